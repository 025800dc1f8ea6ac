"""Small generated documents in real languages, distinct from each other."""

import random

GERMAN = [
    "Die Stadtbibliothek öffnet am Montag wieder ihre Türen für alle Leserinnen und Leser.",
    "Im Frühling blühen die Obstbäume entlang des Flusses besonders schön.",
    "Der Gemeinderat hat beschlossen, einen neuen Radweg durch das Tal zu bauen.",
    "Viele Familien verbringen den Sonntag gern mit einem langen Spaziergang im Wald.",
    "Die Schülerinnen haben im Unterricht über die Geschichte ihrer Region gesprochen.",
    "Nach dem starken Regen mussten mehrere Straßen vorübergehend gesperrt werden.",
    "Das kleine Museum zeigt alte Werkzeuge aus der Landwirtschaft des Dorfes.",
    "Am Abend trafen sich die Nachbarn zu einem gemeinsamen Essen im Hof.",
    "Die Forscher untersuchen, wie sich der Klimawandel auf die Alpen auswirkt.",
    "Mein Großvater erzählt gern Geschichten aus seiner Kindheit auf dem Bauernhof.",
    "Die neue Bäckerei an der Ecke verkauft jeden Morgen frisches Brot.",
    "Im Herbst sammeln die Kinder Kastanien und basteln daraus kleine Figuren.",
    "Der Zug nach Hamburg hatte heute leider eine Verspätung von zwanzig Minuten.",
    "Die Musikschule sucht noch Lehrkräfte für Geige und Klavier.",
    "Auf dem Wochenmarkt gibt es Gemüse, Käse und Blumen aus der Umgebung.",
    "Das Theater spielt in dieser Saison ein Stück über die Freundschaft zweier Schwestern.",
    "Wer im Winter wandern möchte, sollte warme Kleidung und feste Schuhe tragen.",
    "Die Universität bietet ab Oktober einen neuen Studiengang für Datenwissenschaft an.",
    "Unsere Katze schläft am liebsten in der Sonne auf dem Fensterbrett.",
    "Der Verein feiert im Sommer sein hundertjähriges Bestehen mit einem großen Fest.",
]
FRENCH = [
    "La bibliothèque municipale rouvre ses portes lundi prochain pour tous les lecteurs.",
    "Au printemps, les arbres fruitiers fleurissent le long de la rivière.",
    "Le conseil municipal a décidé de construire une nouvelle piste cyclable dans la vallée.",
    "Beaucoup de familles aiment passer le dimanche à se promener dans la forêt.",
    "Les élèves ont parlé en classe de l'histoire de leur région.",
    "Après les fortes pluies, plusieurs routes ont dû être fermées temporairement.",
    "Le petit musée présente d'anciens outils agricoles du village.",
    "Le soir, les voisins se sont retrouvés pour un repas commun dans la cour.",
]


def documents(n, language="de", seed=0, sentences=6):
    """``n`` distinct documents of ``sentences`` sentences each."""
    pool = GERMAN if language == "de" else FRENCH
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        picked = rng.sample(pool, min(sentences, len(pool)))
        docs.append(" ".join(picked) + f" Dies ist Eintrag Nummer {seed}-{i}." if language == "de" else " ".join(picked) + f" Ceci est l'entrée numéro {seed}-{i}.")
    return docs
