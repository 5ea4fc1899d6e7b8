package risk

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Versions keeps every rule set ever activated and the decisions taken.
// A version, once stored, is never overwritten: storing another set under
// its number fails with fault.Conflict CodeVersion.
type Versions interface {
	// PutRules stores a new version (its JSON); fault.Conflict CodeVersion
	// when the version exists (even with the same rules).
	PutRules(ctx context.Context, set *RuleSet, at time.Time) error
	// RulesAt returns a stored version, or fault.NotFound CodeNoVersion.
	RulesAt(ctx context.Context, version int) (*RuleSet, error)
	// RuleVersions lists the stored versions, oldest first.
	RuleVersions(ctx context.Context) ([]VersionInfo, error)
	// SaveDecision keeps a decision (once per point and id: a second save
	// of the same decision changes nothing).
	SaveDecision(ctx context.Context, d Decision) error
	// DecisionOf returns a kept decision, or fault.NotFound CodeNoDecision.
	DecisionOf(ctx context.Context, p Point, id string) (Decision, error)
}

// CodeNoDecision is the code of a decision that was not kept.
const CodeNoDecision = "risk_no_decision"

// VersionInfo describes a stored rule set version.
type VersionInfo struct {
	Version int       `json:"version"`
	Digest  string    `json:"digest"`
	Rules   int       `json:"rules"`
	Note    string    `json:"note,omitempty"`
	At      time.Time `json:"at"`
}

// Latest returns the highest stored version, or fault.NotFound
// CodeNoVersion when none is stored.
func Latest(ctx context.Context, v Versions) (*RuleSet, error) {
	vs, err := v.RuleVersions(ctx)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fault.E(fault.NotFound, CodeNoVersion, "no rule set stored")
	}
	return v.RulesAt(ctx, vs[len(vs)-1].Version)
}

// Activate stores set as a new version, checking it first; it fails with
// fault.Invalid CodeRules when it does not hold and fault.Conflict
// CodeVersion when its version is not above every stored one.
func Activate(ctx context.Context, v Versions, set *RuleSet, at time.Time) error {
	if err := set.Check(); err != nil {
		return err
	}
	vs, err := v.RuleVersions(ctx)
	if err != nil {
		return err
	}
	if n := len(vs); n > 0 && set.Version <= vs[n-1].Version {
		return fault.E(fault.Conflict, CodeVersion, "rule set version %d: version %d is stored; a new version must be above it", set.Version, vs[n-1].Version)
	}
	return v.PutRules(ctx, set, at)
}

// MemoryVersions is an in-process Versions.
type MemoryVersions struct {
	mu        sync.Mutex
	sets      map[int][]byte
	info      map[int]VersionInfo
	decisions map[[2]string]Decision
}

// NewMemoryVersions returns an empty in-process Versions.
func NewMemoryVersions() *MemoryVersions {
	return &MemoryVersions{sets: map[int][]byte{}, info: map[int]VersionInfo{}, decisions: map[[2]string]Decision{}}
}

var _ Versions = (*MemoryVersions)(nil)

// PutRules stores a version; see Versions.
func (m *MemoryVersions) PutRules(_ context.Context, set *RuleSet, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sets[set.Version]; ok {
		return fault.E(fault.Conflict, CodeVersion, "rule set version %d is stored already: a new version needs a new number", set.Version)
	}
	m.sets[set.Version] = set.JSON()
	m.info[set.Version] = Info(set, at)
	return nil
}

// Info describes set as stored at at.
func Info(set *RuleSet, at time.Time) VersionInfo {
	return VersionInfo{Version: set.Version, Digest: set.Digest(), Rules: len(set.Rules), Note: set.Note, At: at.UTC()}
}

// RulesAt returns a version; see Versions.
func (m *MemoryVersions) RulesAt(_ context.Context, version int) (*RuleSet, error) {
	m.mu.Lock()
	b, ok := m.sets[version]
	m.mu.Unlock()
	if !ok {
		return nil, fault.E(fault.NotFound, CodeNoVersion, "no rule set version %d", version)
	}
	return DecodeRules(bytes.NewReader(b))
}

// RuleVersions lists the versions; see Versions.
func (m *MemoryVersions) RuleVersions(context.Context) ([]VersionInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]VersionInfo, 0, len(m.info))
	for _, v := range m.info {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// SaveDecision keeps a decision; see Versions.
func (m *MemoryVersions) SaveDecision(_ context.Context, d Decision) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{string(d.Point), d.ID}
	if _, ok := m.decisions[k]; !ok {
		m.decisions[k] = d
	}
	return nil
}

// DecisionOf returns a kept decision; see Versions.
func (m *MemoryVersions) DecisionOf(_ context.Context, p Point, id string) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.decisions[[2]string{string(p), id}]
	if !ok {
		return Decision{}, fault.E(fault.NotFound, CodeNoDecision, "no %s decision kept for this id", p)
	}
	return d, nil
}
