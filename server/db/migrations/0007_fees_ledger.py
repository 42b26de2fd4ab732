from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_process_kinds')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Payment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('payment_id', fields.CharField(unique=True, description='external payment id', max_length=64)),
                ('room', fields.ForeignKeyField('models.Room', source_field='room_id', db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.RESTRICT)),
                ('item', fields.CharField(max_length=32)),
                ('periods', fields.JSONField(default=list, description='periods named by the payer', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('amount', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('allocations', fields.JSONField(default=list, description='[period, amount] pairs the payment went to', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('unallocated', fields.DecimalField(description='left over: a credit for later periods', max_digits=12, decimal_places=2)),
                ('paid_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('source', fields.CharField(description='api or notify', max_length=8)),
                ('recorded_by', fields.ForeignKeyField('models.Staff', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payments', 'app': 'models', 'indexes': [Index(fields=['room_id', 'item'])], 'pk_attr': 'id', 'table_description': 'One payment of a household for one item, allocated to its fee rows (docs/fees.md).'},
            bases=['Model'],
        ),
    ]
