package journal

// Segments made ahead of time. Appending to a file changes its size, and
// on ext4 an fdatasync(2) after an append also commits the inode's new
// size through the file system's own journal; overwriting blocks already
// written changes no metadata, and the sync flushes the data alone. On
// the 2-vCPU machine (a 700 B–6 KB write and its fdatasync, 2,000 times):
// 193–329 µs of wall time and 95–183 µs of CPU appending, 133–178 µs and
// 61–90 µs overwriting zeros, and half the bytes reaching the disk (4.8
// against 8.7 KB a sync). So, with an FS that can rename (a Renamer: OSFS and
// lossyfs), once the last segment is half full the file makes the next
// one in the background — PATH.next, TruncateAt + aheadSlack bytes of
// zeros, synced — and the roll renames it to its segment's name (its
// folder synced) instead of creating an empty file. The group commits
// then write inside the file.
//
// Open reads an all-zero rest of a segment as space made ahead, not as
// damage: nothing is dropped or cut, and writing goes on over the zeros.
// A torn block over zeros is a torn block as before (it does not check,
// and the rest is not all zeros). PATH.next is not a segment (its name
// has no sequence number): Open ignores it, the next making overwrites
// it, Close removes it.

// Renamer is an FS that can rename a file durably (its folder synced
// when Rename returns); with it a Log makes its segments ahead of time.
type Renamer interface {
	Rename(oldpath, newpath string) error
}

// aheadSlack is how far past TruncateAt a segment made ahead reaches: the
// block that crosses TruncateAt is written inside it too.
const aheadSlack = 256 << 10

// zeros is what segments made ahead are written with, a page at a time
// (read only): the page cache keeps a file's pages in folios as large as
// the writes that made them (up to megabytes), and a block written later
// dirties — and counts in the process's write_bytes — its whole folio;
// written a page at a time, a block dirties its own pages.
var zeros [4096]byte

// aheadName is the name of the segment being made ahead.
func (f *file) aheadName() string { return f.path + ".next" }

// makeAhead starts making the next segment when the last one is half
// full and none is made or being made (f.mu held).
func (f *file) makeAhead(sg *segment) {
	rn, ok := f.opt.FS.(Renamer)
	if !ok || f.ahead != nil || f.making || f.closed || f.failed != nil || sg.size < f.opt.TruncateAt/2 {
		return
	}
	f.making = true
	f.aheadWG.Add(1)
	go func() {
		defer f.aheadWG.Done()
		r, err := f.zeroFile(f.aheadName(), f.opt.TruncateAt+aheadSlack)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.making = false
		if err != nil {
			return // the roll creates an empty segment, as without a Renamer
		}
		f.ahead, f.aheadRn = r, rn // Close removes it if no roll takes it
	}()
}

// zeroFile opens (or creates) name and makes its first n bytes zeros,
// synced; a longer file is cut to n.
func (f *file) zeroFile(name string, n int64) (File, error) {
	r, err := f.opt.FS.OpenFile(name)
	if err != nil {
		return nil, err
	}
	size, err := r.Size()
	if err == nil && size > n {
		err = r.Truncate(n)
	}
	for off := int64(0); err == nil && off < n; off += int64(len(zeros)) {
		_, err = r.WriteAt(zeros[:min(int64(len(zeros)), n-off)], off)
	}
	if err == nil {
		err = r.Sync()
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// takeAhead returns the segment made ahead renamed to name, or nil when
// there is none or the rename failed (f.wmu held).
func (f *file) takeAhead(name string) File {
	f.mu.Lock()
	r, rn := f.ahead, f.aheadRn
	f.ahead = nil
	f.mu.Unlock()
	if r == nil {
		return nil
	}
	if err := rn.Rename(f.aheadName(), name); err != nil {
		r.Close()
		return nil
	}
	return r
}

// dropAhead waits for a segment being made and removes it (at Close).
func (f *file) dropAhead() {
	f.aheadWG.Wait()
	f.mu.Lock()
	r := f.ahead
	f.ahead = nil
	f.mu.Unlock()
	if r == nil {
		return
	}
	r.Close()
	_ = f.opt.FS.Remove(f.aheadName()) // if it stays, the next making overwrites it
}

// allZeros reports whether r's bytes from off to end are all zero.
func allZeros(r File, off, end int64) bool {
	buf := make([]byte, min(64<<10, end-off))
	for off < end {
		b := buf[:min(int64(len(buf)), end-off)]
		if n, _ := r.ReadAt(b, off); n < len(b) {
			return false // unreadable: not known to be zeros
		}
		for _, c := range b {
			if c != 0 {
				return false
			}
		}
		off += int64(len(b))
	}
	return true
}
