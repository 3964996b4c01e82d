from django.db import migrations

# lockable 1.4's "saved" notifications for documents: each update of a row
# sends one naming its lock (documents.document:<id>), who saved it and the
# new version, so that live editing tells the pages that wait for or view
# that document "Alice saved a new version (7)", and a page let in after it
# loads the current version before it enables its form.
ENABLE = ("SELECT lockable.enable_save_announcements("
          "'documents_document'::regclass, 'id', 'documents.document:', 'version')")
DISABLE = "SELECT lockable.disable_save_announcements('documents_document'::regclass)"


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]
    operations = [migrations.RunSQL(ENABLE, DISABLE)]
