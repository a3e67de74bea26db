"""`rollcall rehearse`: the dress rehearsal of the forum's morning against a real system.

rehearsal.py  all of it, in order            system.py   the system driven (running or own)
people.py     the delegate list, streamed    names.py    countries, cities, names by script
drive.py      event, gates, registrations    mails.py    badge tokens read from badge mails
morning.py    the simulated morning          gates.py    one lane: a gate or a desk
report.py     plots, latencies, headcount    checks.py   scan log and Message-ID checks
"""
