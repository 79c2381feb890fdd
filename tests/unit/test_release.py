from tasks.release import build_archive


def test_archive_is_reproducible_and_leaves_local_env_files_out(tmp_path):
    source = tmp_path / "app"
    (source / "node_modules" / "x").mkdir(parents=True)
    (source / "server.js").write_text("console.log(1)\n")
    (source / ".env").write_text("SECRET=FAKE\n")
    (source / ".env.local").write_text("SECRET=FAKE\n")
    (source / "node_modules" / "x" / "i.js").write_text("")

    first, archive = build_archive(source)
    build_archive.cache_clear()
    second, _ = build_archive(source)
    assert first == second

    import tarfile

    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["server.js"]
        assert all(m.uid == 0 and m.mtime == 0 for m in tar.getmembers())
