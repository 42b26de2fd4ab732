from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_fees_ledger')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Notice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(description='water_outage, power_outage, ... activity', max_length=16)),
                ('title', fields.CharField(max_length=64)),
                ('summary', fields.CharField(default='', description='one line for templates', max_length=64)),
                ('body', fields.TextField(unique=False)),
                ('audience', fields.JSONField(description='resolved targets, see fanout.py', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('urgent', fields.BooleanField(default=False, description='sent through quiet hours')),
                ('status', fields.CharField(default='scheduled', description='scheduled or sent', max_length=12)),
                ('send_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('broadcast_id', fields.BigIntField(null=True, description='the fan-out job once sent')),
                ('created_by', fields.ForeignKeyField('models.Staff', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.SET_NULL)),
                ('source', fields.CharField(default='console', description='console or chat', max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notices', 'app': 'models', 'indexes': [Index(fields=['status', 'send_at'])], 'pk_attr': 'id', 'table_description': 'A notice to residents (outage, maintenance, activity, emergency), sent now or at send_at.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Poll',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='polls', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=64)),
                ('questions', fields.JSONField(description='[{kind, text, options}] with kind single, multiple, rating or text', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('audience', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('vote_per', fields.CharField(default='household', description='household/person', max_length=12)),
                ('status', fields.CharField(default='scheduled', description='scheduled, open or closed', max_length=12)),
                ('opens_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closes_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('owner', fields.ForeignKeyField('models.Staff', source_field='owner_id', db_constraint=True, to_field='id', related_name='polls', on_delete=OnDelete.RESTRICT)),
                ('responsible_ids', fields.JSONField(default=list, description='staff ids who get the summary besides the owner', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('broadcast_id', fields.BigIntField(null=True, description='the invitation fan-out job')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'polls', 'app': 'models', 'indexes': [Index(fields=['status', 'opens_at']), Index(fields=['status', 'closes_at'])], 'pk_attr': 'id', 'table_description': 'A consultation: questions, an audience, open and close times, one vote per voter key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PollBallot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll', fields.ForeignKeyField('models.Poll', source_field='poll_id', db_constraint=True, to_field='id', related_name='ballots', on_delete=OnDelete.CASCADE)),
                ('voter_key', fields.CharField(description='room:12 or resident:7', max_length=32)),
                ('resident', fields.ForeignKeyField('models.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='ballots', on_delete=OnDelete.CASCADE)),
                ('room', fields.ForeignKeyField('models.Room', source_field='room_id', null=True, db_constraint=True, to_field='id', related_name='ballots', on_delete=OnDelete.SET_NULL)),
                ('answers', fields.JSONField(default=dict, description='question number (1-based, as text) to the answer', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'poll_ballots', 'app': 'models', 'unique_together': (('poll', 'voter_key'),), 'pk_attr': 'id', 'table_description': "One voter's answers: re-answering replaces them (unique poll + voter key)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PollReport',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('poll', fields.OneToOneField('models.Poll', source_field='poll_id', db_constraint=True, to_field='id', related_name='report', on_delete=OnDelete.CASCADE)),
                ('summary', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'poll_reports', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The summary computed when a poll closes, kept as it was pushed to its people.'},
            bases=['Model'],
        ),
    ]
