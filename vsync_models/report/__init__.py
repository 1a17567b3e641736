"""From records to numbers: statistics, timing metrics, reliability, repeats, results files, comparisons and gates."""
