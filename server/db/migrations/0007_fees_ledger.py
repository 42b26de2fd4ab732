from tortoise import migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0006_process_kinds')]

    initial = False

    operations = [
    ]
