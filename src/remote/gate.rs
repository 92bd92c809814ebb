//! What a client waits on before every request it sends, so that every request spends its
//! budget: the API calls themselves, the token fetches that precede them, and the repeat after
//! a refused token alike.

use async_trait::async_trait;

/// The request must not be sent (the round that wanted it stopped, or the budget could not
/// be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request was not sent: its round stopped")]
pub struct Closed;

/// Waited on before each request.
#[async_trait]
pub trait Gate: Send + Sync {
    async fn pass(&self) -> Result<(), Closed>;
}

/// No waiting: for a one-off command that has no budget to share (`rules check
/// --against-connecteam`) and for tests.
pub struct Open;

#[async_trait]
impl Gate for Open {
    async fn pass(&self) -> Result<(), Closed> {
        Ok(())
    }
}
