from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_reporting')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditLog',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.IntField(null=True)),
                ('role', fields.CharField(max_length=20)),
                ('action', fields.CharField(description='e.g. reveal_phone', max_length=32)),
                ('subject', fields.CharField(description='e.g. resident:12', max_length=64)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'audit_log', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An unmasked read of personal data (or another governed act): who, what, when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ExportRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dataset', fields.CharField(description='residents, tasks, facilities or fees', max_length=16)),
                ('filters', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('fields_wanted', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('purpose', fields.CharField(max_length=200)),
                ('department', fields.CharField(description='code of the owning department', max_length=32)),
                ('status', fields.CharField(default='pending', description='pending, approved, rejected or expired', max_length=12)),
                ('requested_by', fields.ForeignKeyField('models.Staff', source_field='requested_by_id', db_constraint=True, to_field='id', related_name='export_requests', on_delete=OnDelete.RESTRICT)),
                ('decided_by', fields.ForeignKeyField('models.Staff', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='decided_exports', on_delete=OnDelete.SET_NULL)),
                ('unmasked_fields', fields.JSONField(default=list, description='allowed in clear', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('file_name', fields.CharField(default='', max_length=96)),
                ('row_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'export_requests', 'app': 'models', 'pk_attr': 'id', 'table_description': "A data admin's request for a CSV export: nothing is produced before its owner approves."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ExportDownload',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('export', fields.ForeignKeyField('models.ExportRequest', source_field='export_id', db_constraint=True, to_field='id', related_name='downloads', on_delete=OnDelete.CASCADE)),
                ('staff_id', fields.IntField()),
                ('ip', fields.CharField(default='', max_length=64)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'export_downloads', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One download of an export file: who, when, from where.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Facility',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='facilities', on_delete=OnDelete.RESTRICT)),
                ('code', fields.CharField(description='unique in its community', max_length=64)),
                ('kind', fields.CharField(max_length=24)),
                ('name', fields.CharField(max_length=64)),
                ('location', fields.CharField(default='', description='where, as people say it', max_length=128)),
                ('lat', fields.FloatField(null=True, description='GCJ-02')),
                ('lng', fields.FloatField(null=True, description='GCJ-02')),
                ('building', fields.CharField(default='', max_length=16)),
                ('photo_id', fields.BigIntField(null=True, description='photos table id, file kept by sha256')),
                ('status', fields.CharField(default='active', description='active or retired', max_length=12)),
                ('version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'facilities', 'app': 'models', 'unique_together': (('community', 'code'),), 'pk_attr': 'id', 'table_description': 'A shared facility of a community (street lamp, elevator, pump, camera, gate ...).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChangeRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='change_requests', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(description='add_facility, modify_facility, retire_facility, resident_data', max_length=24)),
                ('subject', fields.CharField(description='facility kind or resident_data', max_length=24)),
                ('facility', fields.ForeignKeyField('models.Facility', source_field='facility_id', null=True, db_constraint=True, to_field='id', related_name='change_requests', on_delete=OnDelete.SET_NULL)),
                ('resident', fields.ForeignKeyField('models.Resident', source_field='resident_id', null=True, db_constraint=True, to_field='id', related_name='change_requests', on_delete=OnDelete.SET_NULL)),
                ('payload', fields.JSONField(default=dict, description='the new values', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('photo_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('note', fields.CharField(default='', max_length=200)),
                ('department', fields.CharField(description='code of the owning department', max_length=32)),
                ('status', fields.CharField(default='pending', db_index=True, max_length=12)),
                ('submitted_by', fields.ForeignKeyField('models.Staff', source_field='submitted_by_id', db_constraint=True, to_field='id', related_name='submitted_changes', on_delete=OnDelete.RESTRICT)),
                ('source', fields.CharField(default='miniapp', description='wechat or miniapp', max_length=12)),
                ('decided_by', fields.ForeignKeyField('models.Staff', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='decided_changes', on_delete=OnDelete.SET_NULL)),
                ('reason', fields.CharField(default='', description='why it was rejected', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'change_requests', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A proposed change to master data. It has no effect until its owner approves it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FacilityVersion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('facility', fields.ForeignKeyField('models.Facility', source_field='facility_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('version', fields.IntField()),
                ('snapshot', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('change_request', fields.ForeignKeyField('models.ChangeRequest', source_field='change_request_id', null=True, db_constraint=True, to_field='id', related_name='facility_versions', on_delete=OnDelete.SET_NULL)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'facility_versions', 'app': 'models', 'unique_together': (('facility', 'version'),), 'pk_attr': 'id', 'table_description': 'A facility as it was after one approved change: rows are only ever inserted.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ResidentDataChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident', fields.ForeignKeyField('models.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='data_changes', on_delete=OnDelete.CASCADE)),
                ('field', fields.CharField(description='phone, name or relation', max_length=16)),
                ('room_id', fields.IntField(null=True, description='the binding a relation change is about')),
                ('old_value', fields.CharField(max_length=64)),
                ('new_value', fields.CharField(max_length=64)),
                ('change_request', fields.ForeignKeyField('models.ChangeRequest', source_field='change_request_id', db_constraint=True, to_field='id', related_name='resident_changes', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'resident_data_changes', 'app': 'models', 'pk_attr': 'id', 'table_description': "One field of a resident's data changed by an approved change request (history)."},
            bases=['Model'],
        ),
    ]
