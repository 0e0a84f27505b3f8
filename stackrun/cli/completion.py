"""CLI verb: completion. A completion script for bash, zsh or fish: verbs, their options,
stack files after -f, and the service names of the stack file in use (asked of
`stackrun config --services`, the fast path, with the -f/-p given on the line).

    source <(stackrun completion bash)                      # ~/.bashrc
    stackrun completion zsh > "${fpath[1]}/_stackrun"       # zsh (bash's, through bashcompinit)
    stackrun completion fish > ~/.config/fish/completions/stackrun.fish
"""

from __future__ import annotations

import typer

from stackrun.cli.options import choice, examples

EXAMPLES = examples("""
    source <(stackrun completion bash)                 bash, now and in ~/.bashrc
    stackrun completion fish > ~/.config/fish/completions/stackrun.fish
""")
SHELLS = ("bash", "zsh", "fish")

BASH = r"""# stackrun completion for bash (`source <(stackrun completion bash)`)
_stackrun_services() {
    local i args=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -f|--file|-p|--project-name|--profile) args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}"); ((i++));;
        esac
    done
    stackrun "${args[@]}" config --services 2>/dev/null
}
_stackrun() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" verb="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -f|--file|-p|--project-name|--profile) ((i++));;
            -*) ;;
            *) verb="${COMP_WORDS[i]}"; break;;
        esac
    done
    case "$prev" in
        --file) COMPREPLY=($(compgen -f -- "$cur")); return;;
        -f) if [ -z "$verb" ] || [ "$verb" != logs ]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi;;
        -p|--project-name|--profile|-e|--env|-u|--user|-w|--workdir|--name) return;;
    esac
    if [ -z "$verb" ]; then
        COMPREPLY=($(compgen -W "__VERBS__ -f --file -p --project-name --profile --version -h --help" -- "$cur"))
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(stackrun "$verb" --help 2>/dev/null | grep -oE '^ +(-[A-Za-z], )?--?[A-Za-z][A-Za-z-]*' | tr -d ' ,')" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(_stackrun_services)" -- "$cur"))
    fi
}
complete -F _stackrun stackrun
"""

ZSH = "#compdef stackrun\n# stackrun completion for zsh: the bash one, through bashcompinit\n"
ZSH += "autoload -U +X bashcompinit && bashcompinit\n" + BASH

FISH = r"""# stackrun completion for fish
function __stackrun_services
    set -l args
    set -l words (commandline -opc)
    for i in (seq 2 (count $words))
        if contains -- $words[$i] -f --file -p --project-name --profile
            set -a args $words[$i] $words[(math $i + 1)]
        end
    end
    stackrun $args config --services 2>/dev/null
end
complete -c stackrun -f
complete -c stackrun -n __fish_use_subcommand -a "__VERBS__"
complete -c stackrun -n "not __fish_use_subcommand" -a "(__stackrun_services)"
complete -c stackrun -n __fish_use_subcommand -s f -l file -r -F -d "Stack file"
complete -c stackrun -s p -l project-name -x -d "Project name"
complete -c stackrun -l profile -x -d "Enable a profile"
"""


def script(shell: str, verbs) -> str:
    template = {"bash": BASH, "zsh": ZSH, "fish": FISH}[shell]
    return template.replace("__VERBS__", " ".join(sorted(verbs)))


def register(app: typer.Typer) -> None:
    @app.command("completion", epilog=EXAMPLES)
    def completion(
        shell: str = typer.Argument(..., metavar="bash|zsh|fish", help="The shell."),
    ) -> None:
        """Print a completion script: verbs, options, stack files and service names."""
        from stackrun.cli.app import VERBS

        choice("SHELL", shell, SHELLS)
        typer.echo(script(shell, VERBS), nl=False)
