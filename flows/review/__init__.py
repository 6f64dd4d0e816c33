"""The review-model flow: a model's review of the last week or quarter, sent through its channels as a report."""
