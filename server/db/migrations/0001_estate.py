from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Community',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('city', fields.CharField(max_length=32)),
                ('district', fields.CharField(max_length=32)),
                ('address', fields.CharField(max_length=128)),
                ('lat', fields.FloatField()),
                ('lng', fields.FloatField()),
                ('radius_m', fields.IntField()),
            ],
            options={'table': 'communities', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A residential estate: its centre (GCJ-02) and radius form the staff check-in geofence.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Building',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='buildings', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(description='as written on the building: 5, A', max_length=16)),
            ],
            options={'table': 'buildings', 'app': 'models', 'unique_together': (('community', 'name'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Department',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('kind', fields.CharField(description='internal or contractor', max_length=16)),
                ('handles', fields.CharField(default='', description='categories separated by semicolons', max_length=255)),
                ('parent', fields.ForeignKeyField('models.Department', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'departments', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An internal department or an external contractor. `handles` drives task routing.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Device',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.RESTRICT)),
                ('device_id', fields.CharField(max_length=64)),
                ('kind', fields.CharField(max_length=16)),
                ('building', fields.CharField(default='', max_length=16)),
                ('unit', fields.CharField(default='', max_length=16)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
            ],
            options={'table': 'devices', 'app': 'models', 'unique_together': (('community', 'device_id'),), 'pk_attr': 'id', 'table_description': 'A site controller the hardware gateway talks to (gate, door, elevator, fire panel).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboundMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dedupe_key', fields.CharField(unique=True, description='MsgId or openid:time', max_length=128)),
                ('openid', fields.CharField(db_index=True, max_length=64)),
                ('kind', fields.CharField(description='text, image, voice, location, event:...', max_length=32)),
                ('content', fields.TextField(default='', unique=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbound_messages', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Resident',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=32)),
                ('phone', fields.CharField(unique=True, max_length=20)),
                ('openid', fields.CharField(null=True, unique=True, description='official account', max_length=64)),
                ('miniapp_openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, unique=True, max_length=64)),
            ],
            options={'table': 'residents', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A person living in (or owning) one or more rooms, identified by phone on the roster.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Staff',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employee_no', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=32)),
                ('phone', fields.CharField(max_length=20)),
                ('openid', fields.CharField(null=True, unique=True, description='official account', max_length=64)),
                ('miniapp_openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, unique=True, max_length=64)),
                ('department', fields.ForeignKeyField('models.Department', source_field='department_id', db_constraint=True, to_field='id', related_name='staff', on_delete=OnDelete.RESTRICT)),
                ('role', fields.CharField(max_length=20)),
                ('all_communities', fields.BooleanField(default=False)),
                ('communities', fields.ManyToManyField('models.Community', unique=True, db_constraint=True, through='staff_communities', forward_key='community_id', backward_key='staff_id', related_name='staff', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'staff', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Unit',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('building', fields.ForeignKeyField('models.Building', source_field='building_id', db_constraint=True, to_field='id', related_name='units', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=16)),
            ],
            options={'table': 'units', 'app': 'models', 'unique_together': (('building', 'name'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Room',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='rooms', on_delete=OnDelete.RESTRICT)),
                ('unit', fields.ForeignKeyField('models.Unit', source_field='unit_id', db_constraint=True, to_field='id', related_name='rooms', on_delete=OnDelete.RESTRICT)),
                ('number', fields.CharField(max_length=16)),
                ('area_m2', fields.DecimalField(max_digits=8, decimal_places=2)),
            ],
            options={'table': 'rooms', 'app': 'models', 'unique_together': (('unit', 'number'),), 'pk_attr': 'id', 'table_description': 'A household address. The community is kept on the row for fast scope checks.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FeeRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('room', fields.ForeignKeyField('models.Room', source_field='room_id', db_constraint=True, to_field='id', related_name='fees', on_delete=OnDelete.CASCADE)),
                ('period', fields.CharField(description='2026-10 or 2026 or 2026Q3', max_length=16)),
                ('item', fields.CharField(description='property_fee, parking_fee, repair_fee, ...', max_length=32)),
                ('amount_due', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('amount_paid', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('due_date', fields.DateField()),
            ],
            options={'table': 'fee_rows', 'app': 'models', 'unique_together': (('room', 'period', 'item'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RoomBinding',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident', fields.ForeignKeyField('models.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='bindings', on_delete=OnDelete.CASCADE)),
                ('room', fields.ForeignKeyField('models.Room', source_field='room_id', db_constraint=True, to_field='id', related_name='bindings', on_delete=OnDelete.CASCADE)),
                ('relation', fields.CharField(description='owner, family or tenant', max_length=8)),
            ],
            options={'table': 'room_bindings', 'app': 'models', 'unique_together': (('resident', 'room'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Vehicle',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='vehicles', on_delete=OnDelete.CASCADE)),
                ('plate', fields.CharField(max_length=16)),
                ('resident', fields.ForeignKeyField('models.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='vehicles', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'vehicles', 'app': 'models', 'unique_together': (('community', 'plate'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WechatUser',
            fields=[
                ('openid', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('subscribed', fields.BooleanField(default=False)),
                ('scene', fields.CharField(default='', description='QR scene of the last follow', max_length=64)),
                ('last_inbound_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'wechat_users', 'app': 'models', 'pk_attr': 'openid', 'table_description': 'An official-account follower as WeChat reports it, used to pick a channel (48 h window).'},
            bases=['Model'],
        ),
    ]
