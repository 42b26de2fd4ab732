from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_access')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Broadcast',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('idempotency_key', fields.CharField(unique=True, max_length=128)),
                ('kind', fields.CharField(description='catalog kind, e.g. notice', max_length=32)),
                ('values', fields.JSONField(description='template variables, the same for everyone', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('audience', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('urgent', fields.BooleanField(default=False)),
                ('status', fields.CharField(default='pending', description='pending or done', max_length=12)),
                ('cursor', fields.IntField(default=0, description='last resident id expanded')),
                ('expanded', fields.IntField(default=0)),
                ('lock_owner', fields.CharField(null=True, max_length=64)),
                ('lock_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'broadcasts', 'app': 'models', 'indexes': [Index(fields=['status', 'id'])], 'pk_attr': 'id', 'table_description': 'One message to many people: the request writes this row, relays expand it in batches.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeliveryReceipt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(description='template, subscribe or sms', max_length=16)),
                ('external_id', fields.CharField(description='WeChat msgid or our SMS OutId', max_length=64)),
                ('ok', fields.BooleanField()),
                ('status', fields.CharField(description='as reported, e.g. failed: user block', max_length=64)),
                ('payload', fields.JSONField(default=dict, description='the report as received', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('applied_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery_receipts', 'app': 'models', 'unique_together': (('channel', 'external_id'),), 'pk_attr': 'id', 'table_description': 'A delivery report from WeChat or Aliyun, kept once per (channel, external id).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscribeAuthorization',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('app', fields.CharField(description='official or miniapp', max_length=8)),
                ('openid', fields.CharField(description='openid of that app', max_length=64)),
                ('template_id', fields.CharField(max_length=128)),
                ('remaining', fields.IntField(default=0)),
                ('status', fields.CharField(default='accept', description='accept, reject or ban', max_length=8)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'subscribe_authorizations', 'app': 'models', 'unique_together': (('app', 'openid', 'template_id'),), 'pk_attr': 'id', 'table_description': 'How many sends of one subscribe template a person allowed: an accept adds one.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='OutboxMessage',
            name='status',
            field=fields.CharField(default='pending', db_index=True, description='pending, sending, sent, delivered, failed or unconfirmed', max_length=12),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='delivered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='miniapp_openid',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='msgid',
            field=fields.CharField(default='', db_index=True, description='WeChat msgid', max_length=32),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='receipt',
            field=fields.CharField(default='', description='last delivery receipt', max_length=64),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='skip_channels',
            field=fields.JSONField(default=list, description='channels not to try again', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='sms_biz_id',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='sms_out_id',
            field=fields.CharField(default='', db_index=True, max_length=32),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='subject',
            field=fields.CharField(default='', db_index=True, description='task:T1042 or broadcast:7', max_length=40),
        ),
    ]
