"""Published files do not depend on the customer's data key: the same inbox in two data roots (two random keys)
publishes the same bytes, though the warehouse orders rows by pseudonym."""

from __future__ import annotations

import hashlib

from tests.end_to_end.test_privacy import tem
from tests.support.privacy_root import write_privacy_root


def published(root) -> dict[str, str]:
    base = root / "published"
    return {
        p.relative_to(base).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def test_two_data_roots_of_the_same_inbox_publish_the_same_bytes(tmp_path):
    roots = []
    for name, key in (("one", "1a" * 32), ("two", "2b" * 32)):
        root = write_privacy_root(tmp_path / name)
        run = tem("run", "--data-root", str(root), "--workers", "1", home=tmp_path / f"{name}-home", TEM_MASTER_KEY=key)
        assert run.returncode == 0, run.stderr[-2000:]
        roots.append(root)
    first, second = (published(root) for root in roots)
    assert first and first == second
