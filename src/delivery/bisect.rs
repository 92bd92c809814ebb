//! Requests that carry many items and that the API takes all-or-nothing (a user creation or a
//! restore of up to 25, a pack assignment of up to 500): one bad item fails the whole request
//! with 422. [`Bisect`] sends them in chunks and finds the refused items with few requests:
//!
//! - when the refusal names some of the chunk's items (Connecteam's detail may list the ids,
//!   phones or emails at fault), those are set aside and the rest is sent again at once;
//! - otherwise the chunk is split in halves; and when both halves are refused with the same
//!   detail as the chunk, one item of each half is sent alone, in turn: refused the same way
//!   too, the refusal is not about particular items (the pack cannot take anyone, say) and the
//!   whole chunk is refused with five requests, instead of splitting down to single items
//!   (about three requests per item); one accepted, the halves are split as usual.

/// The chunks still to send, next first.
pub struct Bisect<T> {
    stack: Vec<Chunk<T>>,
    families: Vec<Family<T>>,
    /// The family of the chunk last handed out, until it is reported refused.
    current: Option<usize>,
    refused_current: bool,
}

struct Chunk<T> {
    items: Vec<T>,
    /// The split it is a half of.
    family: Option<usize>,
}

/// A chunk that was split: its refusal's detail, and a half refused the same way, held until
/// its sibling's fate is known; or the one item sent alone to tell a refusal of everything
/// from one of particular items, with the halves it stands for.
struct Family<T> {
    detail: String,
    held: Option<Vec<T>>,
    probing: Option<Vec<Vec<T>>>,
    /// A first probe refused like the rest, while a second one is out.
    probe_refused: Option<T>,
    /// Halves not yet sent and answered.
    open: u8,
}

/// What a refused chunk comes to.
pub enum Refusal<T> {
    /// Nothing to settle yet: its parts will be sent.
    Later,
    /// These items are the ones refused (named by the refusal, or alone); the rest of the
    /// chunk will be sent again.
    Named(Vec<T>),
    /// The whole of these was refused for one reason that is not about particular items.
    All(Vec<T>),
}

/// Whether `detail` names the number `n` (as a word of its own: `Users not found: 5, 7`).
pub fn names_number(detail: &str, n: u64) -> bool {
    let n = n.to_string();
    detail
        .split(|c: char| !c.is_ascii_digit())
        .any(|word| word == n)
}

impl<T> Bisect<T> {
    /// `items` in chunks of at most `max`, in order.
    pub fn new(mut items: Vec<T>, max: usize) -> Self {
        let max = max.max(1);
        let mut chunks = Vec::new();
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(max));
            chunks.push(Chunk {
                items,
                family: None,
            });
            items = rest;
        }
        chunks.reverse();
        Self {
            stack: chunks,
            families: Vec::new(),
            current: None,
            refused_current: false,
        }
    }

    /// The next chunk to send. The chunk handed out before it, unless reported refused, was
    /// not refused as a whole.
    pub fn next_chunk(&mut self) -> Option<Vec<T>> {
        if !self.refused_current
            && let Some(f) = self.current.take()
        {
            // Not refused as a whole: a sibling held meanwhile holds the refused items.
            self.families[f].open = self.families[f].open.saturating_sub(1);
            self.release(f);
        }
        let chunk = self.stack.pop()?;
        self.current = chunk.family;
        self.refused_current = false;
        Some(chunk.items)
    }

    /// The chunk last handed out was refused with `detail`; `named` says which of its items
    /// the refusal names.
    pub fn refused(
        &mut self,
        mut chunk: Vec<T>,
        detail: &str,
        named: impl Fn(&T) -> bool,
    ) -> Refusal<T> {
        self.refused_current = true;
        let family = self.current.take();
        if let Some(f) = family {
            self.families[f].open = self.families[f].open.saturating_sub(1);
        }
        if let Some(f) = family
            && let Some(mut pending) = self.families[f].probing.take()
        {
            let first_probe = self.families[f].probe_refused.take();
            if self.families[f].detail == detail {
                // Refused like the rest. A first probe: send a second, from the other half;
                // a second: everything is refused.
                match first_probe {
                    None => {
                        if let Some(second) = pending.last_mut().and_then(Vec::pop) {
                            pending.retain(|p| !p.is_empty());
                            self.families[f].probe_refused = chunk.pop();
                            self.families[f].probing = Some(pending);
                            self.families[f].open = 1;
                            self.stack.push(Chunk {
                                items: vec![second],
                                family: Some(f),
                            });
                            return Refusal::Later;
                        }
                    }
                    Some(first) => chunk.push(first),
                }
                chunk.extend(pending.into_iter().flatten());
                return Refusal::All(chunk);
            }
            let detail = self.families[f].detail.clone();
            self.resume(pending, &detail);
            self.requeue(first_probe);
            return Refusal::Named(chunk);
        }
        let (hit, rest): (Vec<T>, Vec<T>) = chunk.drain(..).partition(|i| named(i));
        if !hit.is_empty() {
            if let Some(f) = family {
                self.release(f);
            }
            if !rest.is_empty() {
                self.stack.push(Chunk {
                    items: rest,
                    family: None,
                });
            }
            return Refusal::Named(hit);
        }
        let chunk = rest;
        if chunk.len() == 1 {
            if let Some(f) = family {
                self.release(f);
            }
            return Refusal::Named(chunk);
        }
        if let Some(f) = family
            && self.families[f].detail == detail
        {
            let Some(mut first) = self.families[f].held.take() else {
                if self.families[f].open > 0 {
                    // The first half refused like its parent: wait for the second before
                    // splitting.
                    self.families[f].held = Some(chunk);
                } else {
                    // Its sibling went through: the refused items are in this half.
                    self.split(chunk, detail);
                }
                return Refusal::Later;
            };
            // Both halves refused like their parent: send one item alone to tell a refusal
            // of everything from one of items in both halves.
            let probe = first.remove(0);
            let pending = if first.is_empty() {
                vec![chunk]
            } else {
                vec![first, chunk]
            };
            let probe_family = self.families.len();
            self.families.push(Family {
                detail: detail.to_owned(),
                held: None,
                probing: Some(pending),
                probe_refused: None,
                open: 1,
            });
            self.stack.push(Chunk {
                items: vec![probe],
                family: Some(probe_family),
            });
            return Refusal::Later;
        }
        if let Some(f) = family {
            self.release(f);
        }
        self.split(chunk, detail);
        Refusal::Later
    }

    /// A first probe that was refused while the second was not: sent again alone, to be
    /// refused (and named) on its own.
    fn requeue(&mut self, probe: Option<T>) {
        if let Some(p) = probe {
            self.stack.push(Chunk {
                items: vec![p],
                family: None,
            });
        }
    }

    /// Halves set aside for a probe that was not refused like them: split them as usual.
    fn resume(&mut self, pending: Vec<Vec<T>>, detail: &str) {
        for part in pending.into_iter().rev() {
            if part.len() == 1 {
                self.stack.push(Chunk {
                    items: part,
                    family: None,
                });
            } else {
                self.split(part, detail);
            }
        }
    }

    fn split(&mut self, mut chunk: Vec<T>, detail: &str) {
        let family = self.families.len();
        self.families.push(Family {
            detail: detail.to_owned(),
            held: None,
            probing: None,
            probe_refused: None,
            open: 2,
        });
        let second = chunk.split_off(chunk.len() / 2);
        self.stack.push(Chunk {
            items: second,
            family: Some(family),
        });
        self.stack.push(Chunk {
            items: chunk,
            family: Some(family),
        });
    }

    /// A held half whose sibling was not refused the same way holds the refused items: split
    /// it. A probe that went through: the halves it stood for are split as usual.
    fn release(&mut self, family: usize) {
        if let Some(pending) = self.families[family].probing.take() {
            let detail = self.families[family].detail.clone();
            self.resume(pending, &detail);
            let first = self.families[family].probe_refused.take();
            self.requeue(first);
        }
        if let Some(held) = self.families[family].held.take() {
            let detail = self.families[family].detail.clone();
            if held.len() == 1 {
                self.stack.push(Chunk {
                    items: held,
                    family: None,
                });
            } else {
                self.split(held, &detail);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Drive a bisection against an all-or-nothing server that refuses any request holding
    /// one of `bad` (naming them when `names`), or everything when `bad` is `None`. Returns
    /// the requests sent and the items settled as refused.
    fn run(n: u32, max: usize, bad: Option<&[u32]>, names: bool) -> (usize, Vec<u32>, Vec<u32>) {
        let mut work = Bisect::new((1..=n).collect(), max);
        let (mut sent, mut refused, mut done) = (0, Vec::new(), Vec::new());
        while let Some(chunk) = work.next_chunk() {
            sent += 1;
            let hit: Vec<u32> = match bad {
                None => chunk.clone(),
                Some(b) => chunk.iter().copied().filter(|i| b.contains(i)).collect(),
            };
            if hit.is_empty() {
                done.extend(chunk);
                continue;
            }
            let detail = if names && bad.is_some() {
                format!("Users not found: {hit:?}")
            } else {
                "refused".to_owned()
            };
            match work.refused(chunk, &detail, |i| names && hit.contains(i)) {
                Refusal::Later => {}
                Refusal::Named(items) | Refusal::All(items) => refused.extend(items),
            }
        }
        refused.sort_unstable();
        done.sort_unstable();
        (sent, refused, done)
    }

    #[test]
    fn a_detail_names_numbers_as_whole_words() {
        assert!(names_number("Users not found: 5, 17", 17));
        assert!(!names_number("Users not found: 5, 17", 1));
        assert!(!names_number("Users not found: 517", 17));
    }

    #[test]
    fn chunks_go_in_order() {
        let mut b = Bisect::new((1..=7).collect(), 3);
        assert_eq!(b.next_chunk(), Some(vec![1, 2, 3]));
        assert_eq!(b.next_chunk(), Some(vec![4, 5, 6]));
        assert_eq!(b.next_chunk(), Some(vec![7]));
        assert_eq!(b.next_chunk(), None);
        assert!(Bisect::<u8>::new(Vec::new(), 5).next_chunk().is_none());
    }

    #[test]
    fn one_bad_item_is_isolated_by_halving() {
        let (sent, refused, done) = run(500, 500, Some(&[123]), false);
        assert_eq!(refused, [123]);
        assert_eq!(done.len(), 499);
        // log2(500) ≈ 9 levels, two requests each at most.
        assert!(sent <= 20, "{sent}");
    }

    #[test]
    fn bad_items_in_both_halves_are_still_isolated() {
        let (_, refused, done) = run(64, 64, Some(&[3, 40]), false);
        assert_eq!(refused, [3, 40]);
        assert_eq!(done.len(), 62);
    }

    #[test]
    fn a_refusal_of_everything_costs_five_requests_not_three_per_item() {
        let (sent, refused, done) = run(500, 500, None, false);
        assert_eq!(sent, 5);
        assert_eq!(refused.len(), 500);
        assert!(done.is_empty());
        let (sent, refused, _) = run(100, 25, None, false);
        assert_eq!(sent, 20, "five per chunk of 25");
        assert_eq!(refused.len(), 100);
    }

    proptest::proptest! {
        /// Whatever the refused items, a bisection that is not told which ones finds exactly
        /// them, unless every probe it sends lands on a refused item.
        #[test]
        fn the_refused_items_are_found(
            n in 1u32..120,
            max in 1usize..60,
            bad in proptest::collection::btree_set(1u32..120, 0..6),
            names in proptest::bool::ANY,
        ) {
            let bad: Vec<u32> = bad.into_iter().filter(|b| *b <= n).collect();
            let (_, refused, done) = run(n, max, Some(&bad), names);
            prop_assert_eq!(refused.len() + done.len(), n as usize);
            for b in &bad {
                prop_assert!(refused.contains(b));
            }
            if names {
                prop_assert_eq!(&refused, &bad);
            }
        }
    }

    #[test]
    fn named_items_are_set_aside_and_the_rest_sent_once_more() {
        let (sent, refused, done) = run(500, 500, Some(&[7, 300]), true);
        assert_eq!(refused, [7, 300]);
        assert_eq!(done.len(), 498);
        assert_eq!(sent, 2);
    }
}
