from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_communication')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TaskFact',
            fields=[
                ('task_id', fields.BigIntField(primary_key=True, generated=False, unique=True, db_index=True)),
                ('community_id', fields.IntField()),
                ('building_id', fields.IntField(null=True)),
                ('department_id', fields.IntField(null=True)),
                ('assignee_id', fields.IntField(null=True, description='the handler the task counts for')),
                ('kind', fields.CharField(max_length=32)),
                ('category', fields.CharField(max_length=24)),
                ('place', fields.CharField(default='', description='public spot, if any', max_length=64)),
                ('state', fields.CharField(max_length=24)),
                ('day', fields.DateField(description='local day the task was created (TZ_NAME)')),
                ('week', fields.DateField(description='Monday of that week')),
                ('month', fields.DateField(description='first day of that month')),
                ('counted', fields.BooleanField(default=True, description='false when cancelled or rejected')),
                ('completed', fields.BooleanField(default=False)),
                ('ever_completed', fields.BooleanField(default=False)),
                ('on_time', fields.BooleanField(null=True, description='completed by the resolve deadline')),
                ('due_ts', fields.BigIntField(null=True, description='open tasks: resolve deadline, unix s')),
                ('checkin_on_time', fields.BooleanField(null=True)),
                ('response_s', fields.IntField(null=True)),
                ('arrival_s', fields.IntField(null=True)),
                ('resolution_s', fields.IntField(null=True)),
                ('held_s', fields.IntField(default=0)),
                ('score', fields.SmallIntField(null=True)),
                ('excellent', fields.BooleanField(null=True)),
                ('reworked', fields.BooleanField(default=False)),
                ('reopened', fields.BooleanField(default=False)),
                ('cost', fields.DecimalField(null=True, description='yuan', max_digits=12, decimal_places=2)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'task_facts', 'app': 'models', 'indexes': [Index(fields=['community_id', 'day']), Index(fields=['department_id', 'day']), Index(fields=['assignee_id', 'day'])], 'pk_attr': 'task_id', 'table_description': 'KPI facts of one task (server.domain.kpi.TaskFacts plus where and when it belongs).'},
            bases=['Model'],
        ),
    ]
