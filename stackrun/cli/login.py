"""CLI verbs: login, logout. Credentials in Docker's own file ($DOCKER_CONFIG/config.json,
or its credential helper), so `docker login` and `stackrun login` serve each other.

    stackrun login -u ann --password-stdin registry.example.com < token.txt
    stackrun logout registry.example.com

`login` checks the credential against the registry before writing anything.
"""

from __future__ import annotations

import sys

import typer

from stackrun.images.model import DOCKER_HUB


def register(app: typer.Typer) -> None:
    @app.command("login")
    def login(
        server: str = typer.Argument(DOCKER_HUB, metavar="[SERVER]", show_default=False),
        username: str | None = typer.Option(None, "-u", "--username", help="User name."),
        password: str | None = typer.Option(
            None, "-p", "--password", help="Password or token (prefer --password-stdin)."
        ),
        password_stdin: bool = typer.Option(
            False, "--password-stdin", help="Read the password or token from standard input."
        ),
    ) -> None:
        """Log in to a registry (default: Docker Hub)."""
        from stackrun.images.registry.credentials import Credential

        registry = server_name(server)
        username, password = _ask(registry, username, password, password_stdin)
        verify_and_save(registry, Credential(username, password))
        print("Login Succeeded")

    @app.command("logout")
    def logout(
        server: str = typer.Argument(DOCKER_HUB, metavar="[SERVER]", show_default=False),
    ) -> None:
        """Remove the stored credentials of a registry (default: Docker Hub)."""
        registry = server_name(server)
        if _credentials_call("erase", registry):
            print(f"Removing login credentials for {registry}")
        else:
            print(f"Not logged in to {registry}")


def server_name(server: str) -> str:
    """`https://index.docker.io/v1/` -> docker.io; `https://host:5000/` -> host:5000."""
    from stackrun.images.registry.credentials import normalise

    return normalise(server.strip())


def _ask(registry: str, username: str | None, password: str | None,
         from_stdin: bool) -> tuple[str, str]:  # fmt: skip
    if from_stdin:
        if password is not None:
            raise typer.BadParameter("--password and --password-stdin are exclusive")
        if not username:
            raise typer.BadParameter("--password-stdin needs --username", param_hint="-u")
        password = sys.stdin.read().rstrip("\r\n")
    elif password is not None:
        print("WARNING! Using --password on the command line is insecure: use --password-stdin.",
              file=sys.stderr)  # fmt: skip
    if not username:
        username = input(f"Username for {registry}: ").strip()
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    if not username or not password:
        raise typer.BadParameter("a user name and a password are needed")
    return username, password


def verify_and_save(registry: str, credential) -> None:
    import anyio

    from stackrun.images.registry.transport import login

    anyio.run(login, registry, credential)
    _credentials_call("save", registry, credential)


def _credentials_call(verb: str, *args):
    from stackrun.errors import ImageError
    from stackrun.images.registry import credentials

    try:
        return getattr(credentials, verb)(*args)
    except credentials.CredentialsError as error:
        raise ImageError(str(error)) from None
