//! Pins: who still needs a rowset file (DESIGN.md "Data model", Pins).
//!
//! A query scan, a load writing files before its commit, a backup job and a restore's
//! downloads each hold a refcounted pin on the rowsets they use ([`PinGuard`], released on drop).
//! The collector ([`Pins::collect`]) deletes a rowset file only when no committed catalog row
//! references it and no pin holds it.
//!
//! Ordering: a reader takes [`Pins::gate`] (shared) before it reads the catalog and keeps it
//! until its pins are registered; a writer releases the pins on files it just committed under
//! the same gate ([`Pins::release`]); the collector takes it exclusively while it reads the
//! catalog and deletes. So a file the collector sees unreferenced cannot be picked up by a reader that
//! read the catalog before the file was dropped from it: that reader's pin already exists.
//! Rowset ids are never reused, so a pin names one file whatever its tablet.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, RwLock, RwLockReadGuard};

#[derive(Debug, Default)]
pub struct Pins {
    gate: RwLock<()>,
    counts: Mutex<HashMap<u64, usize>>,
    /// Something was dropped from the catalog, or a pin went away while garbage waited.
    dirty: AtomicBool,
    wake: Notify,
}

/// Holds pins on a set of rowset ids until dropped.
#[derive(Debug)]
pub struct PinGuard {
    pins: Arc<Pins>,
    ids: Vec<u64>,
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let mut counts = self.pins.counts.lock().unwrap_or_else(|p| p.into_inner());
        for id in &self.ids {
            if let Some(n) = counts.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(id);
                }
            }
        }
        drop(counts);
        if self.pins.dirty.load(Ordering::SeqCst) {
            self.pins.wake.notify_one();
        }
    }
}

impl Pins {
    /// Shared access for a reader between its catalog read and its pin.
    pub async fn gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    pub fn pin(self: &Arc<Self>, ids: impl IntoIterator<Item = u64>) -> PinGuard {
        let ids: Vec<u64> = ids.into_iter().collect();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for id in &ids {
            *counts.entry(*id).or_insert(0) += 1;
        }
        PinGuard {
            pins: Arc::clone(self),
            ids,
        }
    }

    /// Drops `guard` once its files are committed. The pins go under the shared gate: a
    /// collector round holds the gate exclusively from its catalog read to its last delete, so
    /// a round that read the catalog before the commit still sees the pins and keeps the files,
    /// and a round that starts later sees them committed. Dropped without the gate, a round
    /// could read the catalog, see the pins gone and delete files that were just committed.
    pub async fn release(&self, guard: PinGuard) {
        let _gate = self.gate.read().await;
        drop(guard);
    }

    pub fn is_pinned(&self, id: u64) -> bool {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&id)
    }

    /// Asks the collector to run: something was dropped from the catalog.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Waits until the collector should run (marked dirty, or a minute passed while dirty).
    pub async fn wait_for_work(&self) {
        loop {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), self.wake.notified())
                .await;
            if self.dirty.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Deletes every rowset file under `<data_dir>/data` that `committed` (the catalog's
    /// (tablet, rowset) keys, read by `read_committed` under the exclusive gate) does not
    /// reference and no pin holds. Temporary files are left to start-up. Returns the number
    /// of files deleted.
    pub async fn collect<F, Fut, E>(&self, data_dir: &Path, read_committed: F) -> Result<usize, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<HashSet<(u64, u64)>, E>>,
    {
        self.dirty.store(false, Ordering::SeqCst);
        let _exclusive = self.gate.write().await;
        let committed = read_committed().await?;
        let candidates = tokio::task::spawn_blocking({
            let root = super::table::rowsets_root(data_dir);
            move || rowset_files(&root)
        })
        .await
        .unwrap_or_default();
        let mut removed = 0;
        let mut waiting = false;
        for (tablet, rowset, path) in candidates {
            if committed.contains(&(tablet, rowset)) {
                continue;
            }
            if self.is_pinned(rowset) {
                waiting = true;
                continue;
            }
            if tokio::fs::remove_file(&path).await.is_ok() {
                removed += 1;
                if let Some(dir) = path.parent() {
                    let _ = tokio::fs::remove_dir(dir).await;
                }
            }
        }
        if waiting {
            self.dirty.store(true, Ordering::SeqCst);
        }
        Ok(removed)
    }
}

/// Every `<data>/<tablet>/<rowset>.parquet` file.
fn rowset_files(root: &Path) -> Vec<(u64, u64, PathBuf)> {
    let mut out = Vec::new();
    let Ok(tablets) = std::fs::read_dir(root) else {
        return out;
    };
    for tablet_dir in tablets.flatten() {
        let path = tablet_dir.path();
        let Some(tablet) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let Ok(files) = std::fs::read_dir(&path) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let Some(rowset) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".parquet"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            out.push((tablet, rowset, file.path()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pinned_files_outlive_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let tablet = dir.path().join("data").join("7");
        std::fs::create_dir_all(&tablet).unwrap();
        for r in [1, 2, 3] {
            std::fs::write(tablet.join(format!("{r}.parquet")), b"x").unwrap();
        }
        std::fs::write(tablet.join("4.parquet.tmp"), b"x").unwrap();
        let pins = Arc::new(Pins::default());
        let guard = pins.pin([2]);
        let committed: HashSet<(u64, u64)> = [(7, 1)].into_iter().collect();
        let removed = pins
            .collect(dir.path(), || async { Ok::<_, ()>(committed.clone()) })
            .await
            .unwrap();
        assert_eq!(
            removed, 1,
            "3 goes; 1 is committed, 2 pinned, the temp file stays"
        );
        assert!(tablet.join("2.parquet").exists());
        assert!(tablet.join("4.parquet.tmp").exists());
        drop(guard);
        assert!(pins.dirty.load(Ordering::SeqCst));
        let removed = pins
            .collect(dir.path(), || async { Ok::<_, ()>(committed.clone()) })
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert!(!tablet.join("2.parquet").exists());
        assert!(tablet.join("1.parquet").exists());
    }

    /// The race the kill loop found: a round reads the catalog just before a load commits, and
    /// the load drops its pins before the round checks them. `release` waits for the round, so
    /// the round still sees the pin and keeps the file.
    #[tokio::test]
    async fn a_release_waits_for_the_round_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let tablet = dir.path().join("data").join("7");
        std::fs::create_dir_all(&tablet).unwrap();
        std::fs::write(tablet.join("5.parquet"), b"x").unwrap();
        let pins = Arc::new(Pins::default());
        let writing = pins.pin([5]);
        let (read_tx, read_rx) = tokio::sync::oneshot::channel::<()>();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let round = tokio::spawn({
            let pins = Arc::clone(&pins);
            let root = dir.path().to_path_buf();
            async move {
                pins.collect(&root, || async move {
                    // The catalog as read before the load's commit: rowset 5 is not in it.
                    let _ = read_tx.send(());
                    let _ = go_rx.await;
                    Ok::<_, ()>(HashSet::new())
                })
                .await
            }
        });
        read_rx.await.unwrap();
        // The load has committed; it lets go of its pins.
        let release = tokio::spawn({
            let pins = Arc::clone(&pins);
            async move { pins.release(writing).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!release.is_finished(), "release waits for the round");
        go_tx.send(()).unwrap();
        assert_eq!(round.await.unwrap().unwrap(), 0, "the pinned file stays");
        assert!(tablet.join("5.parquet").exists());
        release.await.unwrap();
        assert!(!pins.is_pinned(5));
    }
}
