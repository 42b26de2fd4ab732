from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_sla_clocks')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Task',
            name='contractor',
            field=fields.ForeignKeyField('models.Department', source_field='contractor_id', null=True, description='the external unit doing a contractor job', db_constraint=True, to_field='id', related_name='contracted_tasks', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Task',
            name='due_at',
            field=fields.DatetimeField(null=True, description='the deadline its creator gave', auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['department_id', 'state']),
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['process_id', 'state']),
        ),
    ]
