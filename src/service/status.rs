//! Status words from the service, compared without regard to case, `-`, `_` or spaces.

/// What a status word means to the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    NotStarted,
    Running,
    /// A step waits for someone: at `publisher-signoff` this means the preview is ready.
    WaitingForReview,
    /// A step is stuck with errors while the operation itself still runs.
    Blocked,
    Succeeded,
    Failed,
    Canceled,
    /// A word the program does not know; treated as still running.
    Unknown,
}

impl Status {
    pub fn from_word(word: &str) -> Status {
        let key: String = word
            .chars()
            .filter(|c| !matches!(c, '-' | '_') && !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "notstarted" | "neverpublished" | "pending" | "queued" => Status::NotStarted,
            "running" | "inprogress" | "waitingforapproval" => Status::Running,
            "waitingforpublisherreview" => Status::WaitingForReview,
            "blocked" => Status::Blocked,
            "complete" | "completed" | "succeeded" | "success" => Status::Succeeded,
            "failed" | "rejected" => Status::Failed,
            "canceled" | "cancelled" => Status::Canceled,
            _ => Status::Unknown,
        }
    }

    /// True once the operation can change no more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_compared_loosely() {
        let table = [
            ("complete", Status::Succeeded),
            ("Completed", Status::Succeeded),
            ("SUCCEEDED", Status::Succeeded),
            ("in_progress", Status::Running),
            ("In Progress", Status::Running),
            ("inProgress", Status::Running),
            ("waiting-for-publisher-review", Status::WaitingForReview),
            ("WaitingForPublisherReview", Status::WaitingForReview),
            ("cancelled", Status::Canceled),
            ("Canceled", Status::Canceled),
            ("failed", Status::Failed),
            ("rejected", Status::Failed),
            ("NeverPublished", Status::NotStarted),
            ("not_started", Status::NotStarted),
            ("blocked", Status::Blocked),
            ("something-new", Status::Unknown),
        ];
        for (word, status) in table {
            assert_eq!(Status::from_word(word), status, "{word}");
        }
    }
}
