package attack

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	tapwalletOnce sync.Once
	tapwalletBin  string
	tapwalletErr  error
)

// tapwalletBinary builds the real tapwallet program once per test run and
// returns its path.
func tapwalletBinary(t *testing.T) string {
	t.Helper()
	tapwalletOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tapwallet-attack-")
		if err != nil {
			tapwalletErr = err
			return
		}
		tapwalletBin = filepath.Join(dir, "tapwallet")
		out, err := exec.Command("go", "build", "-o", tapwalletBin, "github.com/tapwallet/tapwallet/cmd/tapwallet").CombinedOutput()
		if err != nil {
			tapwalletErr = &buildError{err: err, out: string(out)}
		}
	})
	if tapwalletErr != nil {
		t.Fatalf("build tapwallet: %v", tapwalletErr)
	}
	return tapwalletBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
