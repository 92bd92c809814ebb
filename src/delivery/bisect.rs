//! Requests that carry many items and that the API takes all-or-nothing (a user creation of
//! up to 25, a pack assignment of up to 500): one bad item fails the whole request with 422.
//! [`Bisect`] sends them in chunks and, when a chunk of several is refused, splits it in
//! halves until the refused items stand alone, so the rest still go through.

/// The chunks still to send, next first.
pub struct Bisect<T> {
    stack: Vec<Vec<T>>,
}

impl<T> Bisect<T> {
    /// `items` in chunks of at most `max`, in order.
    pub fn new(mut items: Vec<T>, max: usize) -> Self {
        let max = max.max(1);
        let mut chunks = Vec::new();
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(max));
            chunks.push(items);
            items = rest;
        }
        chunks.reverse();
        Self { stack: chunks }
    }

    /// The next chunk to send.
    pub fn next_chunk(&mut self) -> Option<Vec<T>> {
        self.stack.pop()
    }

    /// `chunk` (of two or more) was refused as a whole: send its halves next, first half first.
    pub fn split(&mut self, mut chunk: Vec<T>) {
        let second = chunk.split_off(chunk.len() / 2);
        self.stack.push(second);
        self.stack.push(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_go_in_order_and_a_refused_chunk_is_halved() {
        let mut b = Bisect::new((1..=7).collect(), 3);
        assert_eq!(b.next_chunk(), Some(vec![1, 2, 3]));
        b.split(vec![1, 2, 3]);
        assert_eq!(b.next_chunk(), Some(vec![1]));
        assert_eq!(b.next_chunk(), Some(vec![2, 3]));
        assert_eq!(b.next_chunk(), Some(vec![4, 5, 6]));
        assert_eq!(b.next_chunk(), Some(vec![7]));
        assert_eq!(b.next_chunk(), None);
        assert!(Bisect::<u8>::new(Vec::new(), 5).next_chunk().is_none());
    }
}
