"""Archives in and out: `docker save` archives and OCI image layouts (a tar or a
directory). load.py stores one, all or nothing; save.py writes one that both formats'
readers take. members.py copies and hashes an archive's files; formats.py reads what
they hold."""
