"""Near-duplicate detection without Django: signature files and the band index over them."""
