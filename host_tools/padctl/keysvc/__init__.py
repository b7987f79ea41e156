"""The key service of issue 8 (protocol.md section 12): token and sealed keystore back ends,
regions, the article-23 cards, issuing, audit. TEST MATERIAL wherever keys are generated."""
