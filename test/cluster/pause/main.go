// pause is two things that need the same few lines: the pod sandbox's process (run with no
// arguments, it sleeps until SIGTERM or SIGINT), and PID 1 of the local cluster's PID namespace
// (run with a command, it starts it, passes SIGTERM and SIGINT on, and exits with its status).
// Either way it reaps every orphan: the machine's own PID 1 does not, and in a PID namespace the
// orphans of containerd's shims and of killed components come to this process.
package main

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	child := -1
	if len(os.Args) > 1 {
		cmd := exec.Command(os.Args[1], os.Args[2:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			os.Stderr.WriteString("pause: " + err.Error() + "\n")
			os.Exit(127)
		}
		child = cmd.Process.Pid
	}
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			if child < 0 {
				os.Exit(0)
			}
			syscall.Kill(child, sig.(syscall.Signal))
			continue
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == child {
				if status.Signaled() {
					os.Exit(128 + int(status.Signal()))
				}
				os.Exit(status.ExitStatus())
			}
		}
	}
}
