"""`labelloop serve` and `labelloop user`: the server and its accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelloop.cli import app, fail
from labelloop.cli._common import JsonOpt, ProjectOpt, open_workspace, print_json

user_app = typer.Typer(
    help="Server accounts: add users (a password is generated and printed once), set roles.",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user", rich_help_panel="Server")

RoleOpt = Annotated[
    str | None,
    typer.Option("--role", help="Project role: admin, reviewer, expert or annotator."),
]


@app.command(rich_help_panel="Server")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, help="Server processes (more than 1: PostgreSQL only)."),
    ] = 1,
    ssl_certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="Serve HTTPS with this certificate.")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option("--ssl-keyfile", help="The certificate's private key.")
    ] = None,
) -> None:
    """Run the HTTP server for the workspace in the current folder (or above).

    JSON API under /api/v1 (its OpenAPI document at /api/v1/openapi.json), sign-in page at /.
    Refuses to start when the workspace secret (.labelloop/secret.key) is missing, short or
    readable by others. Add the first user with `labelloop user add NAME --role admin`.
    """
    from labelloop.service.project.accounts import has_users
    from labelloop.service.project.workspace import load_secret_key

    with open_workspace() as ws:
        load_secret_key(ws.root)  # refuse before binding the port
        no_users = not has_users(ws.store)
        if workers > 1 and ws.store.dialect != "postgresql":
            raise fail(
                f"--workers {workers} needs PostgreSQL; this workspace's database is "
                f"{ws.store.dialect} (one process serves SQLite; its writes go through one writer)"
            )
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise fail("--ssl-certfile and --ssl-keyfile go together; saw only one")
    if ssl_certfile is not None and ssl_keyfile is not None:
        _check_tls_files(ssl_certfile, ssl_keyfile)
    if no_users:
        typer.echo(
            "no users yet: add the first admin with `labelloop user add NAME --role admin` "
            "(its password is printed once)",
            err=True,
        )
    import uvicorn

    typer.echo(f"serving on http{'s' if ssl_certfile else ''}://{host}:{port}/", err=True)
    uvicorn.run(
        "labelloop.web:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level="info",
    )


def _check_tls_files(certfile: Path, keyfile: Path) -> None:
    """Load the certificate and key once, so a bad file is one error line, not a traceback
    from inside the server."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise fail(
            f"cannot use --ssl-certfile {certfile} with --ssl-keyfile {keyfile}: {exc}; "
            "expected a PEM certificate (chain) and its PEM private key"
        ) from None


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ + -).")],
    role: RoleOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user with a generated password, printed once (it is stored only as a hash).

    With --role or --project the user joins that project (role default: annotator; the
    project may be left out while the workspace has one). There is no default user.
    """
    from labelloop.service.project.accounts import add_user

    with open_workspace() as ws:
        added = add_user(ws.store, name, role=role, project_name=project)
    m = added.membership
    if as_json:
        print_json(
            {
                "user": added.user.name,
                "password": added.password,
                "project": None if m is None else m.project_name,
                "role": None if m is None else m.role,
            }
        )
        return
    where = "" if m is None else f", {m.role} of project {m.project_name!r}"
    typer.echo(f"user {added.user.name!r} added{where}")
    typer.echo(f"password (shown once, not stored): {added.password}")


@user_app.command("role")
def user_role(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[
        str, typer.Option("--role", help="Project role: admin, reviewer, expert or annotator.")
    ],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a user a role in a project (adding them to it); recorded as a `role` event."""
    from labelloop.service.project.accounts import set_role

    with open_workspace() as ws:
        m = set_role(ws.store, project, name, role, actor="cli", source="cli")
    if as_json:
        print_json({"user": m.user_name, "project": m.project_name, "role": m.role})
        return
    typer.echo(f"user {m.user_name!r} is {m.role} of project {m.project_name!r}")
