//! Why a store call failed, and whether it is worth retrying later.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    /// A request the store refuses as given (copying into a database that is not empty).
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// The store cannot take writes (a read-only database or file, a full disk) though it
    /// may still answer reads.
    pub fn is_read_only(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.code().is_some_and(|code| {
            code == "25006"
                || code
                    .parse::<i32>()
                    .is_ok_and(|c| matches!(c & 0xff, 8 | 13))
        })
    }

    /// The database cannot be reached or cannot take the work right now (connection refused
    /// or lost, pool exhausted, server shutting down or refusing connections, out of
    /// resources), as opposed to a statement that failed: the caller should retry later.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return matches!(self, StoreError::Closed);
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // PostgreSQL: 08 connection exception, 53 insufficient resources, 57P admin
                // or crash shutdown and "cannot connect now", 55000 a database that does
                // not allow connections, 25006 a read-only transaction (a standby). SQLite:
                // 5 busy, 8 read-only, 10 I/O error, 13 full, 14 cannot open (extended codes
                // keep the primary code in their low byte).
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "55000"
                    || code == "25006"
                    || code
                        .parse::<i32>()
                        .is_ok_and(|c| matches!(c & 0xff, 5 | 8 | 10 | 13 | 14))
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn unavailable_is_about_reaching_the_database_not_about_a_statement() {
        assert!(StoreError::Closed.is_unavailable());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(
            StoreError::Database(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused
            )))
            .is_unavailable()
        );
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Corrupt("x".into()).is_unavailable());
    }
}
