# The archive's actions (J1; audit/models.py Action): choices only.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_one_vocabulary'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('read', 'viewed'), ('search', 'listed'), ('create', 'created'), ('update', 'changed'), ('retract', 'marked as entered in error'), ('delete', 'removed'), ('print', 'printed'), ('export', 'exported'), ('send', 'sent'), ('login', 'logged in'), ('login-failed', 'failed login'), ('authenticate', 'signed in at the identity provider'), ('logout', 'logged out'), ('lock', 'locked (idle)'), ('unlock', 'unlocked'), ('reauthenticate', 'confirmed identity again'), ('lockout', 'locked out (too many failures)'), ('break-the-glass', 'opened in an emergency (break the glass)'), ('review', 'reviewed'), ('maintenance', 'maintenance'), ('archive', 'moved to the archive'), ('open-archived', 'opened from the archive, with a reason'), ('restore', 'restored from the archive to active')], max_length=16),
        ),
    ]
