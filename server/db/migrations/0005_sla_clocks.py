from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_notifications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TaskClock',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='clocks', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(description='respond, arrive, resolve, ...', max_length=24)),
                ('calendar', fields.CharField(description='calendar in config/sla.yaml', max_length=32)),
                ('duration_s', fields.IntField(description='running seconds allowed')),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(null=True, description='null while paused with time left', auto_now=False, auto_now_add=False)),
                ('paused_at', fields.DatetimeField(null=True, description='set while the clock stands still', auto_now=False, auto_now_add=False)),
                ('pauses', fields.JSONField(default=list, description='closed pauses as [start, end] pairs', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('stopped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('level', fields.SmallIntField(default=0, description='0 running, 1 breached, 2 and up escalated')),
            ],
            options={'table': 'task_clocks', 'app': 'models', 'unique_together': (('task', 'name'),), 'indexes': [Index(fields=['stopped_at', 'due_at'])], 'pk_attr': 'id', 'table_description': 'One run of an SLA clock on a task: its calendar, its pauses and how far it escalated.'},
            bases=['Model'],
        ),
    ]
