"""The OCI distribution (registry v2) client: auth is a transport, callers never see it.

hosts.py        which registries may be reached over plain HTTP (loopback, listed)
challenge.py    the WWW-Authenticate header, parsed; pure
credentials.py  $DOCKER_CONFIG/config.json: auths, credsStore, credHelpers; login/logout
transport.py    one repository's session: ping /v2/, Bearer or Basic auth, retries,
                redirects, TLS with the system CAs, proxies from the environment
manifest.py     manifests and indexes (OCI, Docker schema 2), platform selection; pure

async with await open_repository(reference) as repository:   # pings and authenticates
    document = await repository.manifest(reference.digest or reference.tag)
    async for chunk in repository.blob(digest): ...
"""
