package netsetup

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// kernelState is what a test reads back over netlink, independently of
// Status, to count what Up installed.
type kernelState struct {
	tables      int            // tables named "gatehouse", any family
	chainRules  map[string]int // rules per chain, from nftables GetRules
	rejectRules int            // forward rules ending in "reject with tcp reset"
	markRules   int            // prerouting rules setting our mark, then accept
	tproxyRules int            // prerouting rules with a tproxy expression to ListenPort
	ipRules     map[int]int    // ip rules with our mark (any table), per family
	routes      map[int]int    // routes in our table, per family
	fwd         [2]bool        // ip_forward, ipv6 all.forwarding
}

func readKernel(t *testing.T, ns netns.NsHandle, cfg Config) kernelState {
	t.Helper()
	cfg = cfg.WithDefaults()
	ks := kernelState{chainRules: map[string]int{}, ipRules: map[int]int{}, routes: map[int]int{}}

	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatalf("list nftables tables: %v", err)
	}
	for _, tb := range tables {
		if tb.Name == TableName {
			ks.tables++
		}
	}
	if ks.tables > 0 {
		for _, chain := range []string{chainPrerouting, chainForward} {
			rules, err := c.GetRules(ourTable(), &nftables.Chain{Name: chain})
			if err != nil {
				// A chain missing (the crash test deletes one) is a count of 0.
				t.Logf("get rules of chain %s: %v", chain, err)
				continue
			}
			ks.chainRules[chain] = len(rules)
			for _, r := range rules {
				ks.countLibraryRule(chain, r, cfg)
				if slices.ContainsFunc(r.Exprs, func(e expr.Any) bool { _, ok := e.(*expr.TProxy); return ok }) {
					t.Log("google/nftables GetRules now decodes tproxy: dumpRules in nftread.go may be replaced by it")
				}
			}
		}
		// GetRules drops tproxy expressions (google/nftables v0.3.0 has no
		// decoder for them), so count those from the raw dump.
		conn, err := mnetlink.Dial(unix.NETLINK_NETFILTER, &mnetlink.Config{NetNS: int(ns)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		raw, err := dumpRules(conn)
		if err != nil {
			t.Fatalf("dump nftables rules: %v", err)
		}
		for _, r := range raw {
			if r.Chain == chainPrerouting && hasTProxyTo(r, cfg.ListenPort) {
				ks.tproxyRules++
			}
		}
	}

	h := nlHandle(t, ns)
	for _, fam := range families {
		rules, err := h.RuleListFiltered(fam, &netlink.Rule{Mark: cfg.Mark}, netlink.RT_FILTER_MARK)
		if err != nil {
			t.Fatalf("list ip rules: %v", err)
		}
		ks.ipRules[fam] = len(rules)
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: cfg.Table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatalf("list routes: %v", err)
		}
		ks.routes[fam] = len(routes)
	}
	for i, fam := range families {
		if err := inNetNS(ns, func() (err error) { ks.fwd[i], err = forwarding[fam].on(); return err }); err != nil {
			t.Fatal(err)
		}
	}
	return ks
}

func (ks *kernelState) countLibraryRule(chain string, r *nftables.Rule, cfg Config) {
	n := len(r.Exprs)
	switch chain {
	case chainForward:
		if rej, ok := r.Exprs[n-1].(*expr.Reject); ok && rej.Type == unix.NFT_REJECT_TCP_RST {
			ks.rejectRules++
		}
	case chainPrerouting:
		if n < 3 {
			return
		}
		imm, ok1 := r.Exprs[n-3].(*expr.Immediate)
		meta, ok2 := r.Exprs[n-2].(*expr.Meta)
		v, ok3 := r.Exprs[n-1].(*expr.Verdict)
		if ok1 && ok2 && ok3 && meta.Key == expr.MetaKeyMARK && meta.SourceRegister &&
			len(imm.Data) == 4 && binaryutil.NativeEndian.Uint32(imm.Data) == cfg.Mark && v.Kind == expr.VerdictAccept {
			ks.markRules++
		}
	}
}

func hasTProxyTo(r nftRule, port uint16) bool {
	for i, x := range r.Exprs {
		tp, ok := x.Expr.(*expr.TProxy)
		if !ok || i == 0 {
			continue
		}
		imm, ok := r.Exprs[i-1].Expr.(*expr.Immediate)
		if ok && imm.Register == tp.RegPort && len(imm.Data) == 2 && int(imm.Data[0])<<8|int(imm.Data[1]) == int(port) &&
			(tp.Family == unix.NFPROTO_IPV4 || tp.Family == unix.NFPROTO_IPV6) {
			return true
		}
	}
	return false
}

// wantOneSet checks that exactly one copy of everything Up installs is in
// the kernel.
func wantOneSet(t *testing.T, ks kernelState, cfg Config) {
	t.Helper()
	n := len(cfg.Agents) * len(cfg.WithDefaults().Ports)
	if ks.tables != 1 {
		t.Errorf("%d nftables tables named %s, want 1", ks.tables, TableName)
	}
	if ks.chainRules[chainPrerouting] != n || ks.chainRules[chainForward] != n {
		t.Errorf("rules per chain = %v, want %d in each", ks.chainRules, n)
	}
	if ks.tproxyRules != n || ks.markRules != n || ks.rejectRules != n {
		t.Errorf("tproxy rules %d, mark rules %d, reject rules %d; want %d each", ks.tproxyRules, ks.markRules, ks.rejectRules, n)
	}
	for _, fam := range families {
		if ks.ipRules[fam] != 1 || ks.routes[fam] != 1 {
			t.Errorf("%s: %d ip rules with our mark, %d routes in our table; want 1 and 1", familyName(fam), ks.ipRules[fam], ks.routes[fam])
		}
	}
	if !ks.fwd[0] || !ks.fwd[1] {
		t.Errorf("forwarding ipv4 %v ipv6 %v, want both on", ks.fwd[0], ks.fwd[1])
	}
}

func wantNone(t *testing.T, ks kernelState) {
	t.Helper()
	if ks.tables != 0 {
		t.Errorf("%d nftables tables named %s, want none", ks.tables, TableName)
	}
	for _, fam := range families {
		if ks.ipRules[fam] != 0 || ks.routes[fam] != 0 {
			t.Errorf("%s: %d ip rules with our mark, %d routes in our table; want none", familyName(fam), ks.ipRules[fam], ks.routes[fam])
		}
	}
}

func wantInstalled(t *testing.T, cfg Config, want bool) *State {
	t.Helper()
	st, err := Status(cfg)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Installed != want {
		t.Errorf("Status().Installed = %v, want %v:\n%s", st.Installed, want, st)
	}
	return st
}

func testConfig(ns netns.NsHandle) Config {
	return Config{Agents: prefixes("10.99.1.0/24", "10.98.0.0/16", "fd00:99:1::/64"), Ports: []uint16{443, 8443}, NetNS: ns}
}

func TestUpTwiceInstallsOneSet(t *testing.T) {
	ns := newNS(t, "up2")
	cfg := testConfig(ns)
	for i := range 2 {
		if err := Up(cfg); err != nil {
			t.Fatalf("Up #%d: %v", i+1, err)
		}
	}
	logRuleset(t, ns)
	wantOneSet(t, readKernel(t, ns, cfg), cfg)
	st := wantInstalled(t, cfg, true)
	if len(st.Rules) != 12 || len(st.IPRules) != 2 || len(st.Routes) != 2 {
		t.Errorf("Status lists %d rules, %d ip rules, %d routes; want 12, 2, 2", len(st.Rules), len(st.IPRules), len(st.Routes))
	}
	if !st.Forwarding.IPv4 || !st.Forwarding.IPv6 || !slices.Contains(st.Notes, forwardingNote) {
		t.Errorf("Status forwarding %+v notes %q", st.Forwarding, st.Notes)
	}
	// `gatehouse net status` knows no agents: it shows the same rules and
	// still says whether capture is in place.
	noAgents := cfg
	noAgents.Agents = nil
	if st2, err := Status(noAgents); err != nil || !st2.Installed || !slices.Equal(st2.Rules, st.Rules) {
		t.Errorf("Status without agents = %+v, %v", st2, err)
	}
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"installed":true`) || !strings.Contains(string(b), `"forwarding":{"ipv4":true,"ipv6":true}`) {
		t.Errorf("json = %s, %v", b, err)
	}
}

func TestDownTwiceRemovesEverything(t *testing.T) {
	ns := newNS(t, "down2")
	cfg := testConfig(ns)
	if err := Down(cfg); err != nil {
		t.Fatalf("Down on a clean namespace: %v", err)
	}
	if err := Up(cfg); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := Down(cfg); err != nil {
			t.Fatalf("Down #%d: %v", i+1, err)
		}
	}
	ks := readKernel(t, ns, cfg)
	wantNone(t, ks)
	if !ks.fwd[0] || !ks.fwd[1] {
		t.Errorf("Down turned forwarding off (ipv4 %v, ipv6 %v); it must leave it on", ks.fwd[0], ks.fwd[1])
	}
	st := wantInstalled(t, cfg, false)
	if st.Table || len(st.Rules)+len(st.IPRules)+len(st.Routes) != 0 || !slices.Contains(st.Notes, forwardingNote) {
		t.Errorf("Status after Down:\n%s", st)
	}
	// Down needs no agents: it removes by table name, mark and table.
	if err := Down(Config{NetNS: ns}); err != nil {
		t.Errorf("Down without agents: %v", err)
	}
}

// A gateway killed mid-way (or an operator's hand-made copies) leaves a
// partial or duplicated set; Up must converge to exactly one set.
func TestUpRepairsCrashLeftovers(t *testing.T) {
	ns := newNS(t, "crash")
	cfg := testConfig(ns)
	if err := Up(cfg); err != nil {
		t.Fatal(err)
	}
	full := cfg.WithDefaults()
	h := nlHandle(t, ns)

	// A duplicate ip rule (the kernel gives it the next free priority), a
	// v6 rule gone, a second local route with another metric, and the
	// forward chain deleted.
	if err := h.RuleAdd(wantRule(unix.AF_INET, full)); err != nil {
		t.Fatalf("add duplicate ip rule: %v", err)
	}
	if err := deleteIPRules(h, unix.AF_INET6, full); err != nil {
		t.Fatal(err)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: lo.Attrs().Index, Dst: defaultDst(unix.AF_INET), Table: full.Table, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST, Priority: 7}); err != nil {
		t.Fatalf("add duplicate route: %v", err)
	}
	deleteChain(t, ns, chainForward)

	ks := readKernel(t, ns, cfg)
	if ks.ipRules[unix.AF_INET] != 2 || ks.ipRules[unix.AF_INET6] != 0 || ks.routes[unix.AF_INET] != 2 || ks.chainRules[chainForward] != 0 {
		t.Fatalf("leftovers not in place: %+v", ks)
	}
	st := wantInstalled(t, cfg, false)
	t.Logf("Status of the leftovers:\n%s", st)
	if len(st.Problems) < 4 {
		t.Errorf("Status names %d problems, want one per leftover (4): %q", len(st.Problems), st.Problems)
	}

	if err := Up(cfg); err != nil {
		t.Fatalf("Up over leftovers: %v", err)
	}
	wantOneSet(t, readKernel(t, ns, cfg), cfg)
	wantInstalled(t, cfg, true)

	if err := Down(cfg); err != nil {
		t.Fatal(err)
	}
	wantNone(t, readKernel(t, ns, cfg))
}

// Up reconfigures: a new config replaces the old rules instead of adding
// to them.
func TestUpWithNewConfigReplacesRules(t *testing.T) {
	ns := newNS(t, "reconf")
	cfg := testConfig(ns)
	if err := Up(cfg); err != nil {
		t.Fatal(err)
	}
	smaller := cfg
	smaller.Agents = prefixes("10.99.1.0/24")
	smaller.Ports = []uint16{443}
	wantInstalled(t, smaller, false)
	if err := Up(smaller); err != nil {
		t.Fatal(err)
	}
	wantOneSet(t, readKernel(t, ns, smaller), smaller)
	wantInstalled(t, smaller, true)
	wantInstalled(t, cfg, false)
}

// Up and Down touch only what they own.
func TestForeignStateSurvivesUpAndDown(t *testing.T) {
	ns := newNS(t, "foreign")
	cfg := testConfig(ns)
	h := nlHandle(t, ns)

	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	other := c.AddTable(&nftables.Table{Name: "other", Family: nftables.TableFamilyINet})
	c.AddChain(&nftables.Chain{Name: "c", Table: other})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	otherRule := netlink.NewRule()
	otherRule.Family, otherRule.Mark, otherRule.Table = unix.AF_INET, 0x1, 100
	if err := h.RuleAdd(otherRule); err != nil {
		t.Fatal(err)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	otherRoute := &netlink.Route{LinkIndex: lo.Attrs().Index, Dst: defaultDst(unix.AF_INET), Table: 100, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST}
	if err := h.RouteAdd(otherRoute); err != nil {
		t.Fatal(err)
	}

	if err := Up(cfg); err != nil {
		t.Fatal(err)
	}
	if err := Down(cfg); err != nil {
		t.Fatal(err)
	}

	if _, err := c.ListTableOfFamily("other", nftables.TableFamilyINet); err != nil {
		t.Errorf("foreign nftables table gone: %v", err)
	}
	if rules, _ := h.RuleListFiltered(unix.AF_INET, otherRule, netlink.RT_FILTER_MARK|netlink.RT_FILTER_TABLE); len(rules) != 1 {
		t.Errorf("%d foreign ip rules, want 1", len(rules))
	}
	if routes, _ := h.RouteListFiltered(unix.AF_INET, otherRoute, netlink.RT_FILTER_TABLE); len(routes) != 1 {
		t.Errorf("%d foreign routes, want 1", len(routes))
	}
}

// NetNS 0 means the calling thread's namespace, also when that is not the
// process's: the sysctls, written from another thread, must land there too.
func TestZeroNetNSIsTheCallersNamespace(t *testing.T) {
	ns := newNS(t, "current")
	cfg := testConfig(0)
	host := hostSnapshot(t)

	err := func() error {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			return err
		}
		upErr := Up(cfg)
		if err := netns.Set(orig); err != nil {
			t.Fatalf("restore namespace: %v", err) // the thread stays locked and dies
		}
		runtime.UnlockOSThread()
		return upErr
	}()
	if err != nil {
		t.Fatalf("Up with NetNS 0 inside %s: %v", ns, err)
	}
	inNS := cfg
	inNS.NetNS = ns
	wantOneSet(t, readKernel(t, ns, inNS), inNS)
	if got := hostSnapshot(t); got != host {
		t.Errorf("the test process's own namespace changed: %+v, was %+v", got, host)
	}
}

type snapshot struct {
	namespace       string // its unique id
	table           bool
	ipRules, routes string
	fwd4, fwd6      bool
}

// hostSnapshot reads, from an unlocked goroutine, what Up would have
// changed in the namespace the test process runs in.
func hostSnapshot(t *testing.T) snapshot {
	t.Helper()
	var s snapshot
	done := make(chan error, 1)
	go func() {
		st, err := Status(Config{Agents: prefixes("10.99.1.0/24")})
		if err != nil {
			done <- err
			return
		}
		s.table, s.fwd4, s.fwd6 = st.Table, st.Forwarding.IPv4, st.Forwarding.IPv6
		s.ipRules, s.routes = strings.Join(st.IPRules, "; "), strings.Join(st.Routes, "; ")
		cur, err := netns.Get()
		if err == nil {
			s.namespace = cur.UniqueId()
			cur.Close()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("snapshot of the test's namespace: %v", err)
	}
	return s
}

// On a host with IPv6 disabled the kernel refuses the IPv6 local route (with
// EACCES, which reads like a missing privilege): Up installs the IPv4 half
// and says why, and refuses IPv6 agents it could not capture.
func TestIPv6DisabledInstallsIPv4Half(t *testing.T) {
	ns := newNS(t, "nov6")
	if err := inNetNS(ns, func() error {
		for _, dev := range []string{"all", "default", "lo"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+dev+"/disable_ipv6", []byte("1"), 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("disable IPv6: %v", err)
	}

	dual := Config{Agents: prefixes("10.99.1.0/24", "fd00:99:1::/64"), NetNS: ns}
	if err := Up(dual); err == nil || !strings.Contains(err.Error(), "IPv6 is disabled") {
		t.Fatalf("Up with an IPv6 agent = %v, want an error saying IPv6 is disabled", err)
	}
	if ks := readKernel(t, ns, dual); ks.tables != 0 {
		t.Errorf("refused Up installed %d tables", ks.tables)
	}

	v4 := Config{Agents: prefixes("10.99.1.0/24"), NetNS: ns}
	for range 2 {
		if err := Up(v4); err != nil {
			t.Fatalf("Up: %v", err)
		}
	}
	ks := readKernel(t, ns, v4)
	if ks.tables != 1 || ks.tproxyRules != 1 || ks.rejectRules != 1 || ks.ipRules[unix.AF_INET] != 1 || ks.routes[unix.AF_INET] != 1 || !ks.fwd[0] {
		t.Errorf("IPv4 half not installed once: %+v", ks)
	}
	if ks.ipRules[unix.AF_INET6] != 0 || ks.routes[unix.AF_INET6] != 0 {
		t.Errorf("IPv6 rules or routes installed with IPv6 disabled: %+v", ks)
	}
	st := wantInstalled(t, v4, true)
	if !slices.Contains(st.Notes, ipv6DisabledNote) {
		t.Errorf("Status notes %q, want the IPv6 note", st.Notes)
	}
	if err := Down(v4); err != nil {
		t.Fatal(err)
	}
	wantNone(t, readKernel(t, ns, v4))
}

// Without privileges Up must say what is missing; with CAP_NET_ADMIN alone
// it works in its own namespace. The test binary is rerun as nobody,
// started inside a fresh namespace so that nothing can reach the host.
func TestUnprivilegedErrorsSayWhatIsMissing(t *testing.T) {
	ns := newNS(t, "unpriv")
	name := nsName(t, ns)
	bin := copyExecutable(t)
	for _, tt := range []struct {
		name, env string
		caps      []uintptr
		want      []string
	}{
		{"current namespace", "", nil, []string{"install nftables table inet gatehouse: ", "operation not permitted (are you root? CAP_NET_ADMIN is needed)"}},
		{"other namespace", name, nil, []string{"enter network namespace", "operation not permitted (entering another namespace needs CAP_SYS_ADMIN; are you root?)"}},
		{"current namespace with CAP_NET_ADMIN only", "", []uintptr{unix.CAP_NET_ADMIN}, []string{"Up: <nil>"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-test.run=^TestHelperUnprivilegedUp$", "-test.v")
			cmd.Env = append(os.Environ(), "NETSETUP_HELPER=1", "NETSETUP_HELPER_NS="+tt.env)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: tt.caps}
			var out []byte
			err := inNetNS(ns, func() (err error) { out, err = cmd.CombinedOutput(); return err })
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("unprivileged Up said:\n%s\nwant it to say %q", out, want)
				}
			}
		})
	}
	// Only the run with CAP_NET_ADMIN installed anything.
	cfg := Config{Agents: prefixes("10.99.1.0/24"), NetNS: ns}
	wantOneSet(t, readKernel(t, ns, cfg), cfg)
}

func TestHelperUnprivilegedUp(t *testing.T) {
	if os.Getenv("NETSETUP_HELPER") == "" {
		t.Skip("run by TestUnprivilegedErrorsSayWhatIsMissing")
	}
	cfg := Config{Agents: prefixes("10.99.1.0/24")}
	if name := os.Getenv("NETSETUP_HELPER_NS"); name != "" {
		h, err := netns.GetFromName(name)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		cfg.NetNS = h
	}
	t.Logf("uid %d: Up: %v", os.Getuid(), Up(cfg))
}

// copyExecutable copies the test binary where user nobody can run it.
func copyExecutable(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netsetup-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "netsetup.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}
