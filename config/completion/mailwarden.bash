# bash completion for mailwarden. Installed as
# $(PREFIX)/share/bash-completion/completions/mailwarden.
# Commands and options are read from the binary's own help text, so the completion never
# goes stale when a command or option is added.

_mailwarden_commands()
{
    "${1:-mailwarden}" help 2>/dev/null |
        awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }'
}

_mailwarden_options()   # _mailwarden_options BIN CMD
{
    "$1" help "$2" 2>/dev/null | grep -oE -- '(^|[[ ,/])--?[a-zA-Z][a-zA-Z0-9-]*' |
        grep -oE -- '--?[a-zA-Z][a-zA-Z0-9-]*' | sort -u
}

_mailwarden()
{
    local cur prev bin cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    bin=${COMP_WORDS[0]}
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$(_mailwarden_commands "$bin") help --help --version" -- "$cur"))
        return 0
    fi
    cmd=${COMP_WORDS[1]}
    case $cmd in
        help)
            COMPREPLY=($(compgen -W "$(_mailwarden_commands "$bin")" -- "$cur"))
            return 0 ;;
    esac
    case $prev in
        -c|--filter-dir|--journal-file)
            COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
        --db|--html|--socket)
            COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_mailwarden_options "$bin" "$cmd")" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
}
complete -o filenames -o bashdefault -F _mailwarden mailwarden
