"""Writes: JSON without NaN, files readable like a plain write."""


def test_outputs_are_readable_by_others_like_a_plain_write(tmp_path):
    import os

    from causalgear.io import write_text

    write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_json_outputs_never_hold_nan(tmp_path):
    import json

    from causalgear.io import write_json

    write_json(tmp_path / "x.json", {"spearman": float("nan"), "rows": [1.0, float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"spearman": None, "rows": [1.0, None]}
