# The review claim walks a queue's pending records oldest first; without this
# index it steps over every decided record at the front of the table on each
# next-item, so the claim slows down as the queue is worked through.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0002_review'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='record',
            index=models.Index(
                condition=models.Q(('status', 'pending')),
                fields=['language', 'kind', 'id'],
                name='record_pending_queue_order',
            ),
        ),
    ]
