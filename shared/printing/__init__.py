"""Badge printing: the printable PDF (A6, lanyard, A4 sheets) with real glyphs for every
script, and the Latin transliteration printed under a non-Latin name. Shared because both
registration (downloads, print sheets) and notify (the PDF attached to the badge mail)
render badges."""
