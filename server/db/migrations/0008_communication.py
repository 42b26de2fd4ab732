from tortoise import migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0007_fees_ledger')]

    initial = False

    operations = [
    ]
