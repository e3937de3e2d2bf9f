"""Put this checkout on sys.path as ansible_collections.sage_open_webui.backup (like ansible-test does)."""
import hashlib
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collection_root():
    # Inside a real ansible_collections tree already?
    parts = ROOT.split(os.sep)
    if len(parts) >= 3 and parts[-3] == "ansible_collections":
        return os.sep.join(parts[:-3])
    # one link per checkout, so two clones can run their tests at the same time
    tag = hashlib.sha256(ROOT.encode()).hexdigest()[:8]
    base = os.path.join(tempfile.gettempdir(), "owb-pytest-collections-%d-%s" % (os.getuid(), tag))
    link_dir = os.path.join(base, "ansible_collections", "sage_open_webui")
    os.makedirs(link_dir, exist_ok=True)
    link = os.path.join(link_dir, "backup")
    if os.path.islink(link) and os.readlink(link) != ROOT:
        os.unlink(link)
    if not os.path.lexists(link):
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    return base


sys.path.insert(0, _collection_root())
