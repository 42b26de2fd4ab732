from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_tasks_outbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccessCredential',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='access_credentials', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(description='card or face', max_length=8)),
                ('value', fields.CharField(description='card number or face template id', max_length=128)),
                ('resident', fields.ForeignKeyField('models.Resident', source_field='resident_id', null=True, db_constraint=True, to_field='id', related_name='access_credentials', on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='access_credentials', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'access_credentials', 'app': 'models', 'unique_together': (('community', 'kind', 'value'),), 'pk_attr': 'id', 'table_description': 'A card or enrolled face that opens doors for one resident or one staff member.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AccessEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.CharField(unique=True, description='set by the gateway', max_length=64)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='access_events', on_delete=OnDelete.CASCADE)),
                ('gateway_id', fields.CharField(description='server for commands it issued', max_length=64)),
                ('kind', fields.CharField(description='plate_seen, door_opened, command_ack', max_length=24)),
                ('at', fields.DatetimeField(description='when it happened on site', auto_now=False, auto_now_add=False)),
                ('device_id', fields.CharField(default='', max_length=64)),
                ('request_id', fields.CharField(default='', max_length=64)),
                ('credential_type', fields.CharField(default='', max_length=8)),
                ('credential', fields.CharField(default='', max_length=256)),
                ('allow', fields.BooleanField(null=True)),
                ('mode', fields.CharField(default='', max_length=12)),
                ('reason', fields.CharField(default='', max_length=32)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'access_events', 'app': 'models', 'indexes': [Index(fields=['community_id', 'at'])], 'pk_attr': 'id', 'table_description': 'Something that happened at a site gate or door, as the gateway or the server saw it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VisitorPass',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='visitor_passes', on_delete=OnDelete.CASCADE)),
                ('credential_type', fields.CharField(description='qr, plate or card', max_length=8)),
                ('credential', fields.CharField(description='QR content, plate or card number', max_length=128)),
                ('valid_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_to', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('host', fields.ForeignKeyField('models.Resident', source_field='host_id', null=True, description='whose doors and floors the visitor may reach, null for any', db_constraint=True, to_field='id', related_name='visitor_passes', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.CharField(description='resident:ID or staff:ID', max_length=48)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'visitor_passes', 'app': 'models', 'unique_together': (('community', 'credential_type', 'credential'),), 'pk_attr': 'id', 'table_description': "A visitor's credential valid in one time window, issued by a resident or staff member."},
            bases=['Model'],
        ),
    ]
