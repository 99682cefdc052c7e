"""The `az` and `azd` commands our docs use, with the options each documents.

Neither CLI is installed here (nor could it reach Azure), so the docs test checks commands against
this table. Every entry names its Microsoft Learn reference page; the azure-cli entries were read
against that page and azure-cli's argument definitions (`command_modules/*/_params.py`). Add a
command here, with its source, before a doc uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tests.docs.shell_blocks import PLACEHOLDER

AZ_REF = "https://learn.microsoft.com/cli/azure"
AZD_REF = "https://learn.microsoft.com/azure/developer/azure-developer-cli/reference"

OUTPUT_FORMATS = ("json", "jsonc", "none", "table", "tsv", "yaml", "yamlc")


@dataclass(frozen=True, slots=True)
class Option:
    names: tuple[str, ...]
    kind: str = "value"  # "switch" (no value), "value", "int", "date", or "choice"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CliCommand:
    path: tuple[str, ...]
    source: str
    options: tuple[Option, ...] = ()
    required: tuple[str, ...] = ()  # first name of each required option
    positionals: int = 0
    arm: bool = True  # Azure Resource Manager commands also take --subscription
    notes: str = ""

    def all_options(self, globals_: tuple[Option, ...]) -> dict[str, Option]:
        table = {name: option for option in (*globals_, *self.options) for name in option.names}
        if self.arm and globals_ is AZ_GLOBALS:
            table["--subscription"] = Option(("--subscription",))
        return table


AZ_GLOBALS: tuple[Option, ...] = (
    Option(("--debug",), "switch"),
    Option(("--help", "-h"), "switch"),
    Option(("--only-show-errors",), "switch"),
    Option(("--output", "-o"), "choice", OUTPUT_FORMATS),
    Option(("--query",)),
    Option(("--verbose",), "switch"),
)

AZD_GLOBALS: tuple[Option, ...] = (
    Option(("--cwd", "-C")),
    Option(("--debug",), "switch"),
    Option(("--help", "-h"), "switch"),
    Option(("--no-prompt",), "switch"),
)
_AZD_ENV = Option(("--environment", "-e"))

_ID = Option(("--id",))
_RG = Option(("--resource-group", "-g"))
_NAME = Option(("--name", "-n"))

AZ_COMMANDS: tuple[CliCommand, ...] = (
    CliCommand(
        ("login",),
        f"{AZ_REF}/reference-index#az-login",
        (
            Option(("--tenant", "-t")),
            Option(("--use-device-code",), "switch"),
            Option(("--allow-no-subscriptions",), "switch"),
            Option(("--scope",)),
        ),
        arm=False,
    ),
    CliCommand(
        ("account", "show"),
        f"{AZ_REF}/account#az-account-show",
        (Option(("--name", "--subscription", "-n", "-s")),),
        arm=False,
    ),
    CliCommand(
        ("ad", "signed-in-user", "show"),
        f"{AZ_REF}/ad/signed-in-user#az-ad-signed-in-user-show",
        arm=False,
    ),
    CliCommand(("ad", "sp", "show"), f"{AZ_REF}/ad/sp#az-ad-sp-show", (_ID,), ("--id",), arm=False),
    CliCommand(
        ("ad", "app", "permission", "add"),
        f"{AZ_REF}/ad/app/permission#az-ad-app-permission-add",
        (_ID, Option(("--api",)), Option(("--api-permissions",))),
        ("--id", "--api", "--api-permissions"),
        arm=False,
    ),
    CliCommand(
        ("ad", "app", "permission", "admin-consent"),
        f"{AZ_REF}/ad/app/permission#az-ad-app-permission-admin-consent",
        (_ID,),
        ("--id",),
        arm=False,
    ),
    CliCommand(
        ("ad", "app", "credential", "reset"),
        f"{AZ_REF}/ad/app/credential#az-ad-app-credential-reset",
        (
            _ID,
            Option(("--append",), "switch"),
            Option(("--cert",)),
            Option(("--create-cert",), "switch"),
            Option(("--display-name",)),
            Option(("--end-date",), "date"),
            Option(("--keyvault",)),
            Option(("--years",), "int"),
        ),
        ("--id",),
        arm=False,
        notes="without --append every existing password credential is deleted first; --years "
        "is an integer (at least a year) and excludes --end-date; the output is "
        "{appId, password, tenant}: no keyId",
    ),
    CliCommand(
        ("ad", "app", "credential", "list"),
        f"{AZ_REF}/ad/app/credential#az-ad-app-credential-list",
        (_ID, Option(("--cert",), "switch")),
        ("--id",),
        arm=False,
    ),
    CliCommand(
        ("ad", "app", "credential", "delete"),
        f"{AZ_REF}/ad/app/credential#az-ad-app-credential-delete",
        (_ID, Option(("--key-id",)), Option(("--cert",), "switch")),
        ("--id", "--key-id"),
        arm=False,
    ),
    CliCommand(
        ("ad", "app", "federated-credential", "create"),
        f"{AZ_REF}/ad/app/federated-credential#az-ad-app-federated-credential-create",
        (_ID, Option(("--parameters",))),
        ("--id", "--parameters"),
        arm=False,
    ),
    CliCommand(
        ("role", "assignment", "create"),
        f"{AZ_REF}/role/assignment#az-role-assignment-create",
        (
            Option(("--role",)),
            Option(("--assignee",)),
            Option(("--assignee-object-id",)),
            Option(
                ("--assignee-principal-type",),
                "choice",
                ("ForeignGroup", "Group", "ServicePrincipal", "User"),
            ),
            Option(("--scope",)),
            Option(("--description",)),
        ),
        ("--role", "--scope"),
    ),
    CliCommand(
        ("servicebus", "topic", "subscription", "show"),
        f"{AZ_REF}/servicebus/topic/subscription#az-servicebus-topic-subscription-show",
        (_RG, Option(("--namespace-name",)), Option(("--topic-name",)), _NAME, Option(("--ids",))),
        ("--resource-group", "--namespace-name", "--topic-name", "--name"),
    ),
    CliCommand(
        ("functionapp", "list-flexconsumption-locations"),
        f"{AZ_REF}/functionapp#az-functionapp-list-flexconsumption-locations",
        (Option(("--runtime",)), Option(("--zone-redundant",), "switch")),
    ),
    CliCommand(
        ("functionapp", "function", "list"),
        f"{AZ_REF}/functionapp/function#az-functionapp-function-list",
        (_RG, _NAME),
        ("--resource-group", "--name"),
    ),
    CliCommand(
        ("keyvault", "secret", "show"),
        f"{AZ_REF}/keyvault/secret#az-keyvault-secret-show",
        (Option(("--vault-name",)), _NAME, Option(("--version", "-v")), Option(("--id",))),
        ("--vault-name", "--name"),
    ),
    CliCommand(
        ("rest",),
        f"{AZ_REF}/reference-index#az-rest",
        (
            Option(
                ("--method", "-m"),
                "choice",
                ("delete", "get", "head", "options", "patch", "post", "put"),
            ),
            Option(("--url", "--uri", "-u")),
            Option(("--body", "-b")),
            Option(("--headers",)),
            Option(("--resource",)),
            Option(("--uri-parameters", "--url-parameters")),
            Option(("--output-file",)),
            Option(("--skip-authorization-header",), "switch"),
        ),
        ("--url",),
    ),
)

AZD_COMMANDS: tuple[CliCommand, ...] = (
    CliCommand(
        ("auth", "login"),
        f"{AZD_REF}#azd-auth-login",
        (Option(("--tenant-id",)), Option(("--use-device-code",), "switch")),
    ),
    CliCommand(
        ("env", "new"), f"{AZD_REF}#azd-env-new", (Option(("--location", "-l")),), positionals=1
    ),
    CliCommand(("env", "set"), f"{AZD_REF}#azd-env-set", (_AZD_ENV,), positionals=2),
    CliCommand(("env", "get-value"), f"{AZD_REF}#azd-env-get-value", (_AZD_ENV,), positionals=1),
    CliCommand(("env", "get-values"), f"{AZD_REF}#azd-env-get-values", (_AZD_ENV,)),
    CliCommand(("up",), f"{AZD_REF}#azd-up", (_AZD_ENV,)),
    CliCommand(("provision",), f"{AZD_REF}#azd-provision", (_AZD_ENV,)),
    CliCommand(("deploy",), f"{AZD_REF}#azd-deploy", (_AZD_ENV,)),
    CliCommand(
        ("down",),
        f"{AZD_REF}#azd-down",
        (_AZD_ENV, Option(("--force",), "switch"), Option(("--purge",), "switch")),
    ),
)


def check(
    words: tuple[str, ...], commands: tuple[CliCommand, ...]
) -> tuple[CliCommand, dict[str, str | bool]]:
    """Check `words` (after the program name) against the table; return the command and the
    option values by first name. Raises ValueError naming what is wrong."""
    known = {c.path: c for c in commands}
    path_length = 0
    for length in range(len(words), 0, -1):
        if tuple(words[:length]) in known:
            path_length = length
            break
    if not path_length:
        raise ValueError(f"not in the reference table: {' '.join(words[:4])}")
    command = known[tuple(words[:path_length])]
    globals_ = AZ_GLOBALS if commands is AZ_COMMANDS else (*AZD_GLOBALS,)
    options = command.all_options(globals_)
    values: dict[str, str | bool] = {}
    positionals: list[str] = []
    rest = list(words[path_length:])
    while rest:
        word = rest.pop(0)
        if not word.startswith("-") or word == "-":
            positionals.append(word)
            continue
        name, _, inline = word.partition("=")
        option = options.get(name)
        if option is None:
            raise ValueError(f"{' '.join(command.path)}: unknown option {name} ({command.source})")
        if option.kind == "switch":
            values[option.names[0]] = True
            continue
        if inline:
            value = inline
        elif rest:
            value = rest.pop(0)
        else:
            raise ValueError(f"{' '.join(command.path)}: {name} needs a value")
        _check_value(command, option, value)
        values[option.names[0]] = value
    if len(positionals) != command.positionals:
        raise ValueError(
            f"{' '.join(command.path)}: {len(positionals)} positional argument(s) "
            f"{positionals}, the reference has {command.positionals} ({command.source})"
        )
    missing = [name for name in command.required if name not in values]
    if missing:
        raise ValueError(f"{' '.join(command.path)}: missing {', '.join(missing)}")
    return command, values


def _check_value(command: CliCommand, option: Option, value: str) -> None:
    if PLACEHOLDER in value:
        return
    where = f"{' '.join(command.path)} {option.names[0]}"
    if option.kind == "int" and not value.isdigit():
        raise ValueError(f"{where} takes an integer, not {value!r} ({command.source})")
    if option.kind == "choice" and value.lower() not in {c.lower() for c in option.choices}:
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(option.choices)}")
    if option.kind == "date":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{where} takes an ISO date or datetime, not {value!r}") from None
