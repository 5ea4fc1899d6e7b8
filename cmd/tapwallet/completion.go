package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

func init() {
	register("completion", "print a shell completion script: completion bash|zsh|fish", runCompletion)
	registerSubs("completion", func() []string { return completionShells })
}

// completionShells are the shells `tapwallet completion` writes for.
var completionShells = []string{"bash", "fish", "zsh"}

const completionUsage = `Usage: tapwallet completion bash|zsh|fish

Prints a completion script for the shell, made from the commands,
subcommands and flags of this tapwallet (each command's -h help), so that
TAB completes them. Install it:
  bash  tapwallet completion bash > /etc/bash_completion.d/tapwallet
        (or: source <(tapwallet completion bash) in ~/.bashrc)
  zsh   tapwallet completion zsh > "${fpath[1]}/_tapwallet"
        (then: autoload -U compinit && compinit)
  fish  tapwallet completion fish > ~/.config/fish/completions/tapwallet.fish

Flags: none (-h prints this help).`

// completionNode is one command path with its subcommands and flags.
type completionNode struct {
	path  string
	subs  []string
	flags []string
}

// completionTree reads every command path's subcommands and, from its help,
// its flags; the top level ("") comes first.
func completionTree(ctx context.Context) ([]completionNode, error) {
	nodes := []completionNode{{path: "", subs: subsOf(""), flags: []string{"--help", "--version"}}}
	for _, p := range commandPaths() {
		help, err := helpOf(ctx, p)
		if err != nil {
			return nil, err
		}
		subs := subsOf(p)
		flags := append(flagsInHelp(help, len(subs) == 0), "--help")
		nodes = append(nodes, completionNode{path: p, subs: subs, flags: flags})
	}
	return nodes, nil
}

func runCompletion(ctx context.Context, e *env, args []string) error {
	if wantsHelp(args) {
		fmt.Fprintln(e.stdout, completionUsage)
		return nil
	}
	if len(args) != 1 {
		fmt.Fprintln(e.stderr, completionUsage)
		return usage("completion: want one shell: bash, zsh or fish")
	}
	write, ok := map[string]func(io.Writer, []completionNode) error{
		"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion,
	}[args[0]]
	if !ok {
		fmt.Fprintln(e.stderr, completionUsage)
		return usage("completion: unknown shell %q: want bash, zsh or fish", args[0])
	}
	nodes, err := completionTree(ctx)
	if err != nil {
		return err
	}
	return write(e.stdout, nodes)
}

// completionCases writes a shell case statement's arms: for each node, its
// path as the pattern and its words (subcommands or flags) as the body.
func completionCases(b *strings.Builder, nodes []completionNode, words func(completionNode) []string, arm func(path, words string) string) {
	for _, n := range nodes {
		if w := words(n); len(w) > 0 {
			b.WriteString(arm(n.path, strings.Join(w, " ")))
		}
	}
}

func nodeSubs(n completionNode) []string  { return n.subs }
func nodeFlags(n completionNode) []string { return n.flags }

// posixArm is a case arm of bash and zsh.
func posixArm(path, words string) string { return fmt.Sprintf("    %q) echo %q ;;\n", path, words) }

// fishArm is a case arm of fish (one word a line).
func fishArm(path, words string) string {
	return fmt.Sprintf("    case %q\n        printf '%%s\\n' %s\n", path, words)
}

// posixTables writes the functions _tapwallet_subs PATH and
// _tapwallet_flags PATH, shared by the bash and zsh scripts.
func posixTables(b *strings.Builder, nodes []completionNode) {
	b.WriteString("_tapwallet_subs() {\n  case \"$1\" in\n")
	completionCases(b, nodes, nodeSubs, posixArm)
	b.WriteString("  esac\n}\n\n_tapwallet_flags() {\n  case \"$1\" in\n")
	completionCases(b, nodes, nodeFlags, posixArm)
	b.WriteString("  esac\n}\n\n")
}

const completionHeader = "# %s completion for tapwallet; made by 'tapwallet completion %s' from its commands, subcommands and flags.\n"

func bashCompletion(w io.Writer, nodes []completionNode) error {
	var b strings.Builder
	fmt.Fprintf(&b, completionHeader, "bash", "bash")
	posixTables(&b, nodes)
	b.WriteString(`_tapwallet() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    case " $(_tapwallet_subs "$path") " in
      *" $w "*) path="${path:+$path }$w" ;;
    esac
  done
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_tapwallet_flags "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_tapwallet_subs "$path")" -- "$cur"))
  fi
}
complete -o default -F _tapwallet tapwallet
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func zshCompletion(w io.Writer, nodes []completionNode) error {
	var b strings.Builder
	b.WriteString("#compdef tapwallet\n")
	fmt.Fprintf(&b, completionHeader, "zsh", "zsh")
	posixTables(&b, nodes)
	b.WriteString(`_tapwallet() {
  local cmdpath="" w i
  local -a subs
  for ((i = 2; i < CURRENT; i++)); do
    w="${words[i]}"
    subs=(${=$(_tapwallet_subs "$cmdpath")})
    if (( ${subs[(Ie)$w]} )); then
      cmdpath="${cmdpath:+$cmdpath }$w"
    fi
  done
  if [[ "${words[CURRENT]}" == -* ]]; then
    compadd -- ${=$(_tapwallet_flags "$cmdpath")}
  else
    compadd -- ${=$(_tapwallet_subs "$cmdpath")}
    _files
  fi
}
compdef _tapwallet tapwallet
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func fishCompletion(w io.Writer, nodes []completionNode) error {
	var b strings.Builder
	fmt.Fprintf(&b, completionHeader, "fish", "fish")
	b.WriteString("function __tapwallet_subs\n    switch \"$argv[1]\"\n")
	completionCases(&b, nodes, nodeSubs, fishArm)
	b.WriteString("    end\nend\n\nfunction __tapwallet_flags\n    switch \"$argv[1]\"\n")
	completionCases(&b, nodes, nodeFlags, fishArm)
	b.WriteString(`    end
end

function __tapwallet_path
    set -l path ''
    for w in (commandline -opc)[2..-1]
        if contains -- $w (__tapwallet_subs "$path")
            set path (string trim -- "$path $w")
        end
    end
    echo $path
end

complete -c tapwallet -n 'not string match -q -- "-*" (commandline -ct)' -a '(__tapwallet_subs (__tapwallet_path))'
complete -c tapwallet -n 'string match -q -- "-*" (commandline -ct)' -f -a '(__tapwallet_flags (__tapwallet_path))'
`)
	_, err := io.WriteString(w, b.String())
	return err
}
