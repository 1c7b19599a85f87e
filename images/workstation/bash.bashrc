# The system-wide bashrc (/etc/bash.bashrc) of the berth workstation.
#
# Everything a learner's shell needs is here, not in ~/.bashrc: berth mounts an empty tmpfs over
# /home/learner. Bash reads this file in every interactive shell, and /etc/profile sources it for
# interactive login shells (`bash -l`), so both get the same prompt.

# Not interactive: do nothing (scripts and `bash -c` stay plain and fast).
[ -z "${PS1-}" ] && return

shopt -s checkwinsize histappend
# Repeats are kept: a command run again after it failed must be seen to succeed.
HISTCONTROL=ignorespace
HISTSIZE=5000
HISTFILESIZE=10000
# Each command reaches ~/.bash_history as soon as it ran, and /tmp/.berth-history gets it with its
# exit status (`0<TAB>docker ps`): berth's `history` checks read them, and a check that asks for
# success counts only a command that exited 0.
__berth_history() {
    local status=$? entry number command
    entry="$(HISTTIMEFORMAT='' builtin history 1)"
    read -r number command <<<"$entry"
    # The first prompt, Enter on an empty line, a line history left out: nothing new ran.
    if [ -n "${__berth_last-}" ] && [ -n "$number" ] && [ "$number" != "$__berth_last" ]; then
        printf '%s\t%s\n' "$status" "$command" >>/tmp/.berth-history
    fi
    __berth_last="${number:-0}"
    builtin history -a
    # An escape sequence terminals ignore; berth takes it out of the output and knows the
    # command has finished, so exercise cards turn green without waiting.
    printf '\e]777;berth-prompt\a'
}
PROMPT_COMMAND="__berth_history${PROMPT_COMMAND:+; $PROMPT_COMMAND}"

export PAGER=less EDITOR=nano VISUAL=nano
# Colours pass through less (`docker logs … | less`, git-style output).
export LESS=-R

# Prompt: the plain text is always `learner@berth:~$ `; with a colour terminal the user@host part
# is green and the directory blue (the \[ \] keep readline's line length right).
case "${TERM-}" in
    xterm*|screen*|tmux*|rxvt*|linux|*color*)
        PS1='\[\e[1;32m\]\u@\h\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '
        ;;
    *)
        PS1='\u@\h:\w\$ '
        ;;
esac

# Colourful ls and grep.
if [ -x /usr/bin/dircolors ]; then
    eval "$(dircolors -b)"
    alias ls='ls --color=auto'
    alias grep='grep --color=auto'
fi
alias ll='ls -alF'
alias la='ls -A'
alias l='ls -CF'

# Tab completion, including `docker <TAB>` (the completion for docker is loaded on first use).
if ! shopt -oq posix && [ -f /usr/share/bash-completion/bash_completion ]; then
    . /usr/share/bash-completion/bash_completion
fi
