"""Hand-run timing of the ingest steps on 1 kB documents (not a test).

    .venv/bin/python -m tests.annotation.ingest.timing

Prints microseconds per kB (UTF-8) for each step, best of several rounds
of process CPU time (the machine is shared: wall time counts the waits),
next to sum(range(1000)) as a yardstick for the machine's speed (about
8 us on a current desktop core), and last one JSON object with everything.
"""

import json
import time
import timeit

DOCUMENTS = {
    "de": """Die Stadtbibliothek öffnet ab dem kommenden Montag wieder zu den gewohnten Zeiten. Nach einer umfangreichen Renovierung, die fast zwei Jahre gedauert hat, stehen den Besucherinnen und Besuchern nun deutlich mehr Arbeitsplätze zur Verfügung. Im Erdgeschoss wurde ein heller Lesesaal eingerichtet, in dem Tageszeitungen aus ganz Europa ausliegen.
Besonders stolz ist das Team auf die neue Kinderabteilung. Dort gibt es nicht nur Bilderbücher und Hörspiele, sondern auch einen kleinen Theaterraum, in dem jeden Mittwoch vorgelesen wird. Die Leiterin der Bibliothek betont, dass die Einrichtung ein Ort der Begegnung bleiben soll, an dem niemand etwas kaufen muss.
Wer einen Ausweis beantragen möchte, kann dies künftig auch online erledigen. Die Gebühr für Erwachsene bleibt unverändert, Schülerinnen und Schüler sowie Studierende zahlen weiterhin nichts. Für ältere Menschen werden zudem regelmäßig Kurse angeboten, in denen der Umgang mit Tablets und E-Books erklärt wird.""",
    "fr": """La bibliothèque municipale rouvrira ses portes lundi prochain, après deux années de travaux. Les lecteurs découvriront une salle de lecture plus lumineuse, des espaces de travail supplémentaires et un coin consacré à la presse européenne, où l'on peut feuilleter chaque matin des quotidiens venus de tout le continent.
L'équipe est particulièrement fière du nouvel espace jeunesse. On y trouve des albums, des livres audio et une petite salle de spectacle où des conteurs se relaient tous les mercredis après-midi. Selon la directrice, la bibliothèque doit rester un lieu de rencontre ouvert à tous, où personne n'est obligé de consommer quoi que ce soit.
Les inscriptions pourront désormais se faire en ligne. Le tarif pour les adultes reste inchangé, tandis que les élèves et les étudiants continueront de bénéficier de la gratuité. Des ateliers seront aussi proposés aux personnes âgées qui souhaitent apprendre à utiliser une tablette ou à emprunter des livres numériques.""",
    "el": """Η δημοτική βιβλιοθήκη ανοίγει ξανά τη Δευτέρα, ύστερα από δύο χρόνια εργασιών ανακαίνισης. Οι αναγνώστες θα βρουν μια φωτεινή αίθουσα ανάγνωσης, περισσότερες θέσεις εργασίας και μια γωνιά με εφημερίδες από όλη την Ευρώπη, τις οποίες μπορεί κανείς να ξεφυλλίσει κάθε πρωί με την ησυχία του.
Η ομάδα της βιβλιοθήκης είναι ιδιαίτερα περήφανη για το νέο παιδικό τμήμα. Εκεί υπάρχουν εικονογραφημένα βιβλία, ηχητικά βιβλία και ένα μικρό θέατρο, όπου κάθε Τετάρτη απόγευμα αφηγητές διαβάζουν ιστορίες στα παιδιά. Σύμφωνα με τη διευθύντρια, η βιβλιοθήκη πρέπει να παραμείνει ένας τόπος συνάντησης ανοιχτός σε όλους.
Οι εγγραφές μπορούν πλέον να γίνονται και ηλεκτρονικά. Η συνδρομή για τους ενήλικες παραμένει ίδια, ενώ οι μαθητές και οι φοιτητές δεν πληρώνουν τίποτα. Για τους ηλικιωμένους θα οργανωθούν επίσης μαθήματα για τη χρήση ταμπλετών και ηλεκτρονικών βιβλίων.""",
    "contacts": """Kontakt: Anna Beispiel, anna.beispiel@example.de, Tel. +49 30 1234567, Fax 030 7654321.
Bankverbindung: IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX. Server 192.0.2.10, 2001:db8::10.
Öffnungszeiten 08.00-12.00 Uhr, am 01.05.2024 geschlossen. Preise ab 1.234,56 € (ISBN 978-3-16-148410-0).
Le bureau de Paris répond au 01 23 45 67 89 ou à contact@exemple.fr ; IBAN FR76 3000 6000 0112 3456 7890 189.
Biuro w Warszawie: +48 22 123 45 67, biuro@przyklad.pl, konto PL61 1090 1014 0000 0712 1981 2874.""",
}


def _per_kb(step, text: str, number: int = 300) -> float:
    seconds = min(timeit.repeat(lambda: step(text), timer=time.process_time, number=number, repeat=5)) / number
    return seconds * 1e6 * 1000 / len(text.encode())


def main() -> None:
    started = time.perf_counter()
    from annotation.ingest import langid, minhash, normalise, pii, quality, tokens

    imported = time.perf_counter()
    langid.model()
    loaded = time.perf_counter()
    print(f"import: {imported - started:.2f} s, langid model load: {loaded - imported:.2f} s")
    rounds = timeit.repeat(lambda: sum(range(1000)), timer=time.process_time, number=2000, repeat=5)
    yardstick = min(rounds) / 2000 * 1e6
    print(f"yardstick sum(range(1000)): {yardstick:.1f} us")
    steps = {
        "normalise_text": normalise.normalise_text,
        "redact": pii.redact,
        "quality_signals": lambda text: quality.quality_signals(text, "de"),
        "identify": langid.identify,
        "band_hashes": minhash.band_hashes,
        "tokens (regex)": tokens.get_counter("regex"),
    }
    figures = {"import_s": round(imported - started, 2), "model_load_s": round(loaded - imported, 2)}
    figures["yardstick_us"] = round(yardstick, 1)
    for name, step in steps.items():
        timings = {lang: round(_per_kb(step, text)) for lang, text in DOCUMENTS.items()}
        figures[name] = timings
        print(f"{name:18s} us per kB: {timings}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
