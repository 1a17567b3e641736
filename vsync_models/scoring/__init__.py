"""Reading an answer out of a response (letters, times, yes/no) and scoring it against the truth."""
