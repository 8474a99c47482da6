"""Building metadata from public sources as the paper did (SPEC 3): WordNet synset names,
Wikipedia unigrams and PMI bigrams, and Wikipedia titles by pageviews, merged in that order."""
