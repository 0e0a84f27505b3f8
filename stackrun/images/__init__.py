"""Images: references, the registry client, the verified content-addressed store, safe
unpacking and archives. Reads and writes only its store (`dirs.image_root()`) and the
network; never the kernel (DESIGN.md: a build runs its steps through runtime/).

Modules, by what they own:

    model.py      frozen dataclasses every part shares (Reference, Platform, ImageConfig,
                  ImageRecord, LayerRef); pure
    reference.py  Docker's reference grammar and normalisation; pure
    config.py     an image's config JSON (OCI or Docker) -> ImageConfig; pure
    store.py      Store(root): blobs by digest, layers by chain id, image records, the lock
      layout.py     where the store keeps what (paths)
      digest.py     digests, chain ids, short layer names; pure
      session.py    a writing process's tmp/ directory (flock'ed) and its pins
      blobs.py      a blob written, hashed and verified as it streams
      layers.py     a layer unpacked into the session, verified, renamed into layers/
      records.py    image records and repositories.json
      collect.py    rmi / prune: what goes, what stays
      inuse.py      which images the projects' state files list
    stream.py     a layer blob read as its uncompressed tar (gzip, zstd, plain), hashed
    confined.py   paths resolved inside one directory, never outside it
    unpack.py     a layer's tar stream -> a directory, confined, with overlay whiteouts
    archive/      `docker save` and OCI archives in (load.py, all or nothing) and out
                  (save.py); members.py copies and hashes, formats.py reads them
    registry/     distribution API v2 client: transport, auth, credentials
    pull.py       Reference -> registry -> Store -> ImageRecord

CONTRACT between them (change it in one commit with its users):

    Store(root: Path | None = None)            root defaults to dirs.image_root()
      .image(name_or_id: str) -> ImageRecord | None   a reference (normalised) or an id prefix
      .images() -> list[ImageRecord]
      .has_blob(digest) -> bool ; .blob_path(digest) -> Path
      .blob_writer(digest, size | None)         context manager: .write(bytes); verified
                                                (size, sha256) and renamed into place on exit;
                                                removed and ImageError on mismatch or error
      .ensure_layer(parent_chain_id | None, blob_digest, media_type, diff_id) -> LayerRef
                                                unpacked once, verified, atomically visible
                                                (LayerRef.link: "l/<short>", relative to
                                                Store.root, for short lowerdir options)
      .put_image(reference | None, manifest_digest | None, config_digest, layer blob
                 digests, media types) -> ImageRecord   tags the image
      .remove(name_or_id, in_use, force=False) ; .prune(in_use, everything=False)
                                                -> collect.Removal(untagged, deleted, freed)
                                                in_use: {image id: (project, …)}
      .lock() -> context manager                exclusive flock of the store, held around
                                                commits (never around a download)
      .claim(digest) -> context manager         flock of one blob/layer being made, so two
                                                processes download/unpack it once: take it
                                                around "has_blob? else download"
      .close() (or `with Store() as store`)     ends the process's session (tmp files, pins)
      .mark_pulled(reference, when=None) ; .pulled(reference) -> epoch seconds | None
                                                pull.py marks; `up` reads it (pull_policy
                                                daily/weekly); rmi/prune forget it
    in use: every `dirs.run_root()/<project>/state.json` lists the ids of the images its
    instances run under the key "images"; rmi/prune never remove those.
"""
