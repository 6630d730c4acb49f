#!/usr/bin/env python3
"""Reference data for `vqa eval` (engine/eval): caption metrics as the COCO caption evaluation
computes them (pycocoevalcap 1.2: its Java PTB tokenizer, Bleu(4), Rouge, Cider, i.e. CIDEr-D)
and VQAv2 accuracy as the VQA evaluation computes it (vqaEval.py, re-implemented below with its
quirks). Writes into --out:
  captions/annotations.json   COCO caption annotations {"info", "images", "annotations"}
  captions/predictions.json   COCO results [{"image_id", "caption"}], one per image
  captions/scores.json        {"tokenized": {"<image id>": {"refs": [...], "pred": ...}},
                               "corpus": {metric: score}, "per_image": {"<image id>": {metric: score}}}
                              for the metrics BLEU-1..4, ROUGE-L, CIDEr-D, as COCOEvalCap.evaluate
                              computes them
  captions_one/, captions_two/  the same three files for a set of one image and of two (CIDEr's
                              document frequencies are degenerate there)
  ptb/cases.json              [{"text", "coco"}]: the lines of ptb_cases.txt beside this script and every caption above, as pycocoevalcap tokenizes them
  vqa/questions.json, vqa/annotations.json, vqa/predictions.json   a VQAv2-format set
  vqa/scores.json             {"normalized": {"<qid>": {"prediction", "answers"}},
                               "per_question": {"<qid>": accuracy 0..1}, "overall",
                               "per_answer_type", "per_question_type"}
  COMPLETE                    written last
pycocoevalcap is fetched with pip once into ~/.cache/vqa-studio/pycocoevalcap-1.2 (it is not in the
project's environment); without it or without `java`, the caption files that need it are left
out, each captions*/ and ptb/ folder says why in SKIPPED, and the script still succeeds.

Recompute mode, for the end-to-end test: scores a report's predictions.jsonl (one JSON object a
line, {"id", "prediction", ...}) over exactly the ids in it, and prints one JSON object:
  make_eval.py --recompute REPORT_DIR --task caption --annotations CAPTIONS.json
      {"metrics": {metric: score}, "per_item": {"<id>": {metric: score}}}
  make_eval.py --recompute REPORT_DIR --task vqa --questions Q.json --annotations A.json
  make_eval.py --recompute REPORT_DIR --task vqa --jsonl SET.jsonl
      {"metrics": {"accuracy": percent}, "by_answer_type": {type: percent},
       "by_question_type": {type: percent}, "per_item": {"<id>": {"accuracy": percent}}}
Exits 77 (ctest's skip) when a caption recompute cannot have pycocoevalcap or java.
"""
import argparse
import collections
import contextlib
import io
import json
import os
import random
import re
import shutil
import sys
import types

from reference_common import pip_fetched

PYCOCO = "pycocoevalcap==1.2"
CACHE = os.path.expanduser("~/.cache/vqa-studio/" + PYCOCO.replace("==", "-"))
METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D")
# Sentences written to probe the Stanford tokenizer's rules (captions, answers and their corners:
# abbreviations, quotes, clitics, numbers, dashes, Unicode), one a line.
PROBE_CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ptb_cases.txt")
SKIP = 77


# ---------------------------------------------------------------------------------------------
# Caption metrics: pycocoevalcap itself
# ---------------------------------------------------------------------------------------------

class Unavailable(Exception):
    """pycocoevalcap or java cannot be used here; the message says why."""


def log(*a):
    print(*a, file=sys.stderr)


def coco_caption():
    """pycocoevalcap's PTBTokenizer, Bleu, Rouge and Cider from the pinned package, fetched once.
    Only these four modules are imported (they need numpy only; pycocoevalcap.eval would pull in
    pycocotools, Meteor and Spice). Raises Unavailable."""
    if shutil.which("java") is None:
        raise Unavailable("no `java` on PATH (pycocoevalcap's PTB tokenizer runs Stanford CoreNLP in Java)")
    site = os.path.join(CACHE, "site")
    # (pip's own output goes to stderr: stdout is the recompute mode's answer.)
    why = pip_fetched(PYCOCO, "pycocoevalcap", os.path.basename(CACHE))
    if why:
        raise Unavailable(why)
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    except ImportError as e:
        raise Unavailable(f"cannot import pycocoevalcap from {site} ({e})")
    coco = types.SimpleNamespace(PTBTokenizer=PTBTokenizer, Bleu=Bleu, Rouge=Rouge, Cider=Cider)
    try:
        probe = coco.PTBTokenizer().tokenize({0: [{"caption": "A probe, of Java."}]})
    except Exception as e:  # noqa: BLE001 (whatever a broken java does)
        raise Unavailable(f"java could not run the PTB tokenizer ({type(e).__name__}: {e})")
    if probe != {0: ["a probe of java"]}:
        raise Unavailable(f"java's PTB tokenizer gave {probe!r} for a probe sentence")
    return coco


def ptb_tokenize(coco, captions):
    """{key: [caption, ...]} -> {key: [tokenized, ...]}: one PTBTokenizer run, as
    COCOEvalCap.evaluate makes it (it replaces '\\n' by ' ', lower-cases, and drops the tokens in
    its PUNCTUATIONS list). pycocoevalcap pairs the tokenizer's output lines with the captions by
    position and never checks the count; this checks it."""
    out = coco.PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
    if list(out) != list(captions) or any(len(out[k]) != len(v) for k, v in captions.items()):
        raise RuntimeError("the PTB tokenizer's output lines do not line up with the captions")
    return out


def caption_scores(coco, gts, res):
    """COCOEvalCap.evaluate's scorers (without METEOR and SPICE) on tokenized captions: gts
    {id: [refs]} and res {id: [candidate]}, same ids in the same order. Returns (corpus, per_id),
    each score under its METRICS name: BLEU over the whole set (counts summed over the images),
    ROUGE-L and CIDEr-D the means of the images'."""
    if not gts:
        zero = {m: 0.0 for m in METRICS}
        return zero, {}
    with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its totals
        bleu, bleu_per = coco.Bleu(4).compute_score(gts, res)
        rouge, rouge_per = coco.Rouge().compute_score(gts, res)
        cider, cider_per = coco.Cider().compute_score(gts, res)
    corpus = dict(zip(METRICS, [float(b) for b in bleu] + [float(rouge), float(cider)]))
    per = {}
    for i, k in enumerate(gts):
        per[k] = dict(zip(METRICS, [float(b[i]) for b in bleu_per] + [float(rouge_per[i]), float(cider_per[i])]))
    return corpus, per


def evaluate_captions(coco, references, predictions):
    """references {id: [caption]} and predictions {id: caption}, over the ids of `references` in its
    order, as COCOEvalCap.evaluate: tokenize the references, tokenize the predictions, score.
    Returns (tokenized gts, tokenized res, corpus, per_id)."""
    ids = list(references)
    gts = ptb_tokenize(coco, {i: references[i] for i in ids})
    res = ptb_tokenize(coco, {i: [predictions[i]] for i in ids})
    corpus, per = caption_scores(coco, gts, res)
    return gts, res, corpus, per


SENTINEL = "zqx sentinel line"


def ptb_cases(coco, texts):
    """[{"text", "coco"}] for each text, by one PTBTokenizer run (with a sentinel line after each
    text, which shows where a text's output ends). A text that the tokenizer splits into several
    lines ('\\r', '\\v', '\\f', U+2028, U+2029 in it) throws every later line off in pycocoevalcap;
    it is left out (and the run repeated) and returned in the second list."""
    texts, dropped = list(texts), []
    while True:
        captions = {}
        for i, t in enumerate(texts):
            captions[2 * i] = [{"caption": t}]
            captions[2 * i + 1] = [{"caption": SENTINEL}]
        out = coco.PTBTokenizer().tokenize(captions)
        bad = next((i for i in range(len(texts)) if out.get(2 * i + 1) != [SENTINEL]), None)
        if bad is None:
            return [{"text": t, "coco": out[2 * i][0]} for i, t in enumerate(texts)], dropped
        dropped.append(texts.pop(bad))


# ---------------------------------------------------------------------------------------------
# VQA accuracy: vqaEval.py (aagrawal's VQA API), the version with .lower() in the comparison
# (as LAVIS/BLIP and others carry it). GT-Vision-Lab/VQA's own master (a013f00, 2021) is the same
# but for that .lower(): there, a prediction differing only in case from ten identical answers
# ("Yes" against ten "yes") scores 0; here 1. Everywhere else the two agree (processDigitArticle
# lower-cases both sides whenever the answers disagree).
# ---------------------------------------------------------------------------------------------

VQA_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's",
    "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's",
    "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas",
    "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't",
    "whatll": "what'll", "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's",
    "whered": "where'd", "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
    "youve": "you've",
}
VQA_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
               "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
VQA_ARTICLES = ("a", "an", "the")
VQA_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
             "?", "!"]
VQA_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
VQA_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: "(?!<=" is no look-behind; a '.' not before a digit


def vqa_process_punctuation(text):
    out = text
    for p in VQA_PUNCT:
        # The tests look at the original text, the replacements act on `out`.
        if (p + " " in text or " " + p in text) or VQA_COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    # sic: vqaEval passes re.UNICODE as sub's third positional argument, which is `count`: at most
    # 32 periods go.
    return VQA_PERIOD_STRIP.sub("", out, re.UNICODE)


def vqa_process_digit_article(text):
    words = [VQA_NUMBERS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in VQA_ARTICLES]
    # (The contractions' capitalised keys, "Im", "Ive", ..., never match: the words are lower case.)
    return " ".join(VQA_CONTRACTIONS.get(w, w) for w in words)


def vqa_score(prediction, answers):
    """One question as vqaEval.evaluate scores it. Returns (accuracy 0..1, prediction as compared,
    answers as compared)."""
    def clean(s):
        return s.replace("\n", " ").replace("\t", " ").strip()
    answers = [clean(a) for a in answers]
    prediction = clean(prediction)
    if len(set(answers)) > 1:  # sic: when the people agree, nothing is normalised
        answers = [vqa_process_digit_article(vqa_process_punctuation(a)) for a in answers]
        prediction = vqa_process_digit_article(vqa_process_punctuation(prediction))
    accs = []
    for i in range(len(answers)):  # leave answer i out (vqaEval: `item != gtAnsDatum`, distinct answer_ids)
        matches = sum(1 for j, a in enumerate(answers) if j != i and a.lower() == prediction.lower())
        accs.append(min(1, float(matches) / 3))
    accuracy = float(sum(accs)) / len(accs) if accs else 0.0
    return accuracy, prediction, answers


def vqa_evaluate(items):
    """items: [(id, prediction, answers, answer_type, question_type)] in the set's order. Returns
    per-id (accuracy, prediction, answers) and the sums as vqaEval.setAccuracy makes them (without
    its rounding): {"overall": [accs], "answer_type": {type: [accs]}, "question_type": {...}}."""
    per, overall = {}, []
    by_answer, by_question = {}, {}
    for qid, prediction, answers, answer_type, question_type in items:
        per[qid] = vqa_score(prediction, answers)
        acc = per[qid][0]
        overall.append(acc)
        by_answer.setdefault(answer_type, []).append(acc)
        by_question.setdefault(question_type, []).append(acc)
    return per, {"overall": overall, "answer_type": by_answer, "question_type": by_question}


def mean(accs, scale=1):
    """vqaEval.setAccuracy's 100*float(sum(accs))/len(accs), unrounded (scale 1: a fraction)."""
    return scale * float(sum(accs)) / len(accs) if accs else 0.0


# ---------------------------------------------------------------------------------------------
# Fixture data
# ---------------------------------------------------------------------------------------------

SUBJECTS = [("man", "men"), ("woman", "women"), ("dog", "dogs"), ("cat", "cats"), ("boy", "boys"),
            ("girl", "girls"), ("giraffe", "giraffes"), ("horse", "horses"), ("elephant", "elephants"),
            ("skateboarder", "skateboarders"), ("zebra", "zebras"), ("bird", "birds"), ("person", "people"),
            ("child", "children"), ("surfer", "surfers")]
ACTIONS = [("riding", "a skateboard"), ("holding", "an umbrella"), ("eating", "a slice of pizza"),
           ("playing with", "a frisbee"), ("looking at", "a cell phone"), ("carrying", "a surfboard"),
           ("standing next to", "a fire hydrant"), ("sitting on", "a wooden bench"),
           ("flying", "a kite"), ("chasing", "a tennis ball"), ("walking past", "a parked car"),
           ("drinking from", "a cup of coffee")]
PLACES = ["in a grassy field", "on a city street", "next to a river", "in a kitchen", "on the beach",
          "at the park", "in front of a building", "near a wooden fence", "on a snowy hill",
          "inside a living room", "at a train station", "under a large tree"]
COLOURS = ["red", "blue", "white", "black", "grey", "gray", "green", "yellow", "brown", "orange"]
NUMBERS = ["two", "three", "four", "2", "3", "5", "several", "a couple of"]
VERB_3RD = {"riding": "rides", "holding": "holds", "eating": "eats", "playing with": "plays with",
            "looking at": "looks at", "carrying": "carries", "standing next to": "stands next to",
            "sitting on": "sits on", "flying": "flies", "chasing": "chases", "walking past": "walks past",
            "drinking from": "drinks from"}

# Hand-written references that exercise the PTB tokenizer: (image index, caption).
EDGE_REFS = [
    (0, "A man's dog isn't allowed on the couch."),
    (1, "Two dogs' bowls sit on the kitchen floor"),
    (2, "A black-and-white photo of a man in a t-shirt."),
    (3, "Mr. Smith is watching the T.V. in the living room."),
    (4, "About 1,000 people gathered in the park."),
    (5, "A 3.5 inch screen on a cell phone"),
    (6, 'A sign that says "STOP" at the corner.'),
    (7, "A cat (a tabby) sleeping on a laptop."),
    (8, "A bus parked on the street.   "),
    (9, "A giraffe standing\nnext to a tall tree."),
    (10, "A DOG RUNNING ON THE BEACH"),
    (11, "A bright colour scheme in a modern kitchen."),
    (12, "A man waiting for the bus..."),
    (13, "It's a grey cat; it's sleeping: quietly!"),
    (14, "Is that a plane? No, it's a bird!"),
    (15, "A woman's umbrella, red and white, in the rain."),
    (16, "The man -- a chef -- is cooking dinner."),
    (17, "A `quoted' phrase and 'single quotes' on a sign."),
    (18, "A surfer rides a wave at 5:30 p.m. on Sunday."),
    (19, "The kids' toys are all over the floor."),
    (20, "\"Don't park here,\" says the sign."),
    (21, "A U.S. flag flies over the building."),
    (22, "A 10-year-old boy plays soccer in the yard."),
    (23, "A man can't find his keys; he's looking everywhere."),
    (24, "A box labeled [fragile] and {this side up} on the table."),
    (25, "Coffee & donuts on a plate."),
    (26, "A 50% off sign in a store window."),
    (27, "A café with tables outside."),
    (28, "  a lone zebra , grazing ."),
    (29, "Wait... is that a horse?!"),
    (30, "Two gray-and-white cats, one grey kitten & 3 dogs."),
    (31, "The Grey Horse Stands In The Stable"),
    (32, "An elephant's trunk -- long and grey -- reaches for food..."),
    (33, "'Tis a cold day; the children's sleds are out."),
]
# Per-image reference counts other than 5.
REF_COUNT = {5: 3, 17: 3, 26: 3, 11: 7, 29: 7, 38: 7}
N_IMAGES = 44


def topic(rng):
    return {"subject": rng.choice(SUBJECTS), "action": rng.choice(ACTIONS), "place": rng.choice(PLACES),
            "colour": rng.choice(COLOURS), "number": rng.choice(NUMBERS)}


def compose(rng, t, style=None):
    """A COCO-like caption about topic t."""
    (one, many), (verb, obj), place, colour, number = (t["subject"], t["action"], t["place"], t["colour"],
                                                       t["number"])
    art = "An" if colour[0] in "aeiou" else "A"
    an = "an" if one[0] in "aeiou" else "a"
    styles = [
        lambda: f"{art} {colour} {one} {verb} {obj} {place}.",
        lambda: f"{an.capitalize()} {one} {verb} {obj} {place}",
        lambda: f"{number[0].upper() + number[1:]} {many} {verb} {obj} {place}.",
        lambda: f"There is {an} {one} {verb} {obj} {place}.",
        lambda: f"{an} {one} that is {verb} {obj}",
        lambda: f"The {colour} {one} is {verb} {obj} {place} .",
        lambda: f"An image of {an} {one} {place}",
        lambda: f"Close up of {art.lower()} {colour} {one} {verb} {obj}.",
        lambda: f"{an.capitalize()} {one} {VERB_3RD[verb]} {obj} {place}.",
        lambda: f"{art} {colour} {one} {place} {verb} {obj}",
    ]
    return styles[rng.randrange(len(styles)) if style is None else style]()


def caption_set(rng, n_images, edge_refs, ref_count, predictions_plan, id_pool):
    """Images, their references and one prediction each. predictions_plan(i, refs, edge_refs, t,
    other_t) gives image i's prediction (t: its topic, other_t: another image's)."""
    ids = sorted(rng.sample(id_pool, n_images))
    images, annotations, references, predictions = [], [], {}, {}
    edge = collections.defaultdict(list)
    for i, text in edge_refs:
        edge[i].append(text)
    topics = [topic(rng) for _ in range(n_images)]
    ann_id = rng.randrange(100000, 200000)
    for i, image_id in enumerate(ids):
        width, height = rng.choice([(640, 480), (480, 640), (640, 427), (500, 375), (612, 612)])
        images.append({"id": image_id, "file_name": f"COCO_val2014_{image_id:012d}.jpg",
                       "width": width, "height": height})
        refs = list(edge[i]) + [compose(rng, topics[i]) for _ in range(ref_count.get(i, 5) - len(edge[i]))]
        rng.shuffle(refs)
        references[image_id] = refs
        for r in refs:
            ann_id += rng.randrange(1, 50)
            annotations.append({"id": ann_id, "image_id": image_id, "caption": r})
        predictions[image_id] = predictions_plan(i, refs, edge[i], topics[i], topics[(i + 7) % n_images])
    return ({"info": {}, "images": images, "annotations": annotations}, references,
            [{"image_id": k, "caption": v} for k, v in predictions.items()])


LONG = ("a very long caption that goes on and on about a man in a red shirt who is standing next to a "
        "grey dog on a city street while two women walk past a parked car and a bus drives by in the "
        "background near a tall building with many windows and a large tree under a cloudy sky on a "
        "cold and windy afternoon in the middle of the week")


def main_plan(rng):
    def plan(i, refs, edge, t, other):
        kind = i % 11
        if i == N_IMAGES - 1:
            return ""                                  # empty (and the last line the tokenizer reads)
        if i == 20:
            return "..."                               # all punctuation: tokenizes to ""
        if i == 21:
            return "a a a a"                           # repeated words (BLEU's clipping)
        if i == 22:
            return "dog"                               # one word
        if i == 23:
            return LONG                                # very long
        if i in (0, 3, 6, 30):
            return edge[0]                             # an exact copy of a hand-written reference
        if i in (13, 14):                              # one without its punctuation, in lower case
            return re.sub(r"[^\w' ]", "", edge[0]).lower()
        if kind == 0:
            return rng.choice(refs)                    # an exact copy
        if kind == 1:
            return rng.choice(refs).upper()            # case differences
        if kind in (2, 3, 4):
            return compose(rng, t)                     # a paraphrase about the same topic
        if kind in (5, 6):                             # a partial overlap
            mixed = dict(t, action=other["action"], place=other["place"])
            return compose(rng, mixed)
        if kind == 7:
            return compose(rng, other)                 # unrelated
        if kind == 8:
            return "Photo of " + " ".join(rng.choice(refs).lower().split()[:4]) + "!"
        if kind == 9:
            return rng.choice(refs).rstrip(" .") + ", isn't it?"
        return "the " + t["subject"][0] + " " + t["action"][0] + " " + t["action"][1]
    return plan


def captions_fixture(seed):
    rng = random.Random(seed)
    return caption_set(rng, N_IMAGES, EDGE_REFS, REF_COUNT, main_plan(rng), range(1, 581000))


def captions_one_fixture(seed):
    rng = random.Random(seed)
    return caption_set(rng, 1, [(0, "A grey cat sleeping on a laptop's keyboard.")], {},
                       lambda i, refs, edge, t, other: "a gray cat is sleeping on a keyboard", range(1, 581000))


def captions_two_fixture(seed):
    rng = random.Random(seed)
    plans = {0: lambda refs: refs[1], 1: lambda refs: "A man riding a wave on top of a surfboard."}
    return caption_set(rng, 2, [(1, "A man riding a wave on a surfboard."), (0, "A man rides a bike.")],
                       {0: 4, 1: 6}, lambda i, refs, edge, t, other: plans[i](refs), range(1, 581000))


def vqa_fixture(seed):
    """A VQAv2-format set: hand-written questions at the edges of vqaEval's normalisation, then
    generated ones. Returns (questions, annotations, predictions)."""
    rng = random.Random(seed)
    yn, num, oth = "yes/no", "number", "other"
    # (question_type, answer_type, question, answers (10), prediction)
    edge = [
        ("is the", yn, "Is the man wearing a hat?", ["yes"] * 7 + ["no"] * 3, ""),
        ("is the", yn, "Is the dog asleep?", ["yes"] * 6 + ["no"] * 4, "Yes."),
        ("how many", num, "How many dogs are there?", ["2"] * 5 + ["3"] * 3 + ["two"] * 2, "two"),
        ("how many", num, "How many people are in the water?", ["0"] * 4 + ["none"] * 2 + ["1"] * 4, "none"),
        ("what is", oth, "What is on the couch?", ["dog"] * 3 + ["puppy"] * 4 + ["the dog"] + ["cat"] * 2, "a dog"),
        ("what is", oth, "What is in the grass?", ["a dog"] * 2 + ["dog"] * 2 + ["animal"] * 6, "the dog"),
        ("what does the", oth, "What does the sign say?", ["don't walk"] * 3 + ["dont walk"] * 2 + ["stop"] * 5,
         "dont walk"),
        ("is the", yn, "Is the light on?", ["isn't"] * 2 + ["no"] * 8, "isnt"),
        ("how many", num, "How many sheep are in the field?", ["1000"] * 3 + ["1,000"] * 2 + ["many"] * 5, "1,000"),
        ("how many", num, "How many slices are left?", ["2.5"] * 3 + ["2"] * 4 + ["3"] * 3, "2.5"),
        ("what color is the", oth, "What color is the bus?", ["red"] + ["blue"] * 5 + ["white"] * 4, "red"),
        ("what color is the", oth, "What color is the car?", ["red"] * 2 + ["blue"] * 5 + ["white"] * 3, "red"),
        ("what color is the", oth, "What color is the kite?", ["red"] * 3 + ["blue"] * 5 + ["white"] * 2, "red"),
        ("what color is the", oth, "What color is the boat?", ["red"] * 4 + ["blue"] * 5 + ["white"], "red"),
        ("is this", yn, "Is this a kitchen?", ["yes"] * 2 + ["no"] * 8, "YES"),
        ("what is", oth, "What is parked on the street?", ["red car"] * 3 + ["car"] * 7, "  red   car  "),
        ("what color is the", oth, "What color is the cat?", ["blue and white"] * 4 + ["white"] * 6,
         "blue\tand\nwhite"),
        ("what is the", oth, "What is the child eating?", ["ice cream"] * 4 + ["ice-cream"] * 2 + ["cake"] * 4,
         "ice-cream"),
        ("what is the man wearing", oth, "What is the man wearing?", ["t-shirt"] * 3 + ["shirt"] * 7, "t-shirt"),
        ("what is", oth, "What are the odds?", ["50/50"] * 2 + ["50 50"] + ["even"] * 7, "50/50"),
        ("is the", yn, "Is the sky clear?", ["yes"] * 10, "yes."),        # agreed: not normalised
        ("what color is the", oth, "What color is the hydrant?", ["Red"] * 10, "red"),
        ("what is the man wearing", oth, "What is the boy wearing?", ["t-shirt"] * 10, "t shirt"),
        ("what is the man wearing", oth, "What is the girl wearing?", ["t-shirt"] * 10, "T-Shirt"),
        ("is this", yn, "Is this a beach?", ["yes!"] * 2 + ["yes"] * 3 + ["no"] * 5, "yes"),
        ("is the", yn, "Is the train moving?", ["yes"] * 5 + ["no"] * 5, "yes" + "." * 40),  # 32 '.' go
        ("is the", yn, "Is the train stopped?", ["yes"] * 5 + ["no"] * 5, "yes" + "." * 20),
        ("is the", yn, "Is the water calm?", [" yes", "yes\t", "yes", "yes\n", "yes "] + ["yes"] * 5, "Yes"),
        ("what is", oth, "What is the fruit?", ["apple"] * 4 + ["apples"] * 6, "an apple"),
        ("what color is the", oth, "What color is the flag?", ["red white"] * 3 + ["red and white"] * 7,
         "red, white"),
        ("what color is the", oth, "What color is the shirt?", ["red white"] * 3 + ["red and white"] * 7,
         "red,white"),
        ("what color is the", oth, "What color is the umbrella?", ["red"] * 4 + ["pink"] * 6, "(red)"),
        ("what is", oth, "What is the man saying?", ["what's that"] * 3 + ["hello"] * 7, "whats that"),
        ("how many", num, "How many candles are on the cake?", ["10"] * 4 + ["ten"] * 2 + ["11"] * 4, "ten"),
        ("how many", num, "How many cups are there?", ["eleven"] * 3 + ["11"] * 7, "eleven"),
        ("how many", num, "How many cars are on the road?", ["0"] * 3 + ["zero"] * 2 + ["no"] * 5, "zero"),
        ("how many", num, "How many inches of snow?", ["5"] * 3 + ["5."] * 2 + [".5"] * 5, ".5"),
        ("what is", oth, "What is written on the wall?", ["?"] * 3 + ["graffiti"] * 7, "?!"),  # both become ""
        ("is this", yn, "Is this outdoors?", ["Yes"] * 3 + ["yes"] * 2 + ["no"] * 5, "yes"),
        ("is this", yn, "Is this indoors?", ["YES"] * 10, "yes"),
        ("what is", oth, "What number is on the jersey?", ["#1"] * 4 + ["1"] * 6, "#1"),
        ("what is", oth, "What is the dog doing?", ["its sleeping"] * 3 + ["it's sleeping"] * 3 + ["sleeping"] * 4,
         "its sleeping"),
        ("what is", oth, "What is the man's mood?", ["i'm fine"] * 4 + ["happy"] * 6, "Im fine"),  # "Im" unreachable
        ("what time is it", oth, "What time is it?", ["10:30"] * 4 + ["10:30 am"] * 3 + ["morning"] * 3, "10:30"),
        ("what is", oth, "What letter is on the sign?", ["a"] * 3 + ["b"] * 7, "a"),  # articles drop to ""
        ("what is", oth, "What range is shown?", ["1000 2000"] * 3 + ["1,000-2,000"] * 2 + ["big"] * 5,
         "1,000-2,000"),
        ("what is", oth, "What is the brand?", ["coca-cola"] * 3 + ["coke"] * 7, "Coca Cola"),
        ("what is", oth, "What is the sign for?", ["bus stop"] * 3 + ["bus - stop"] + ["stop"] * 6, "bus -stop"),
        ("what color is the", oth, "What color are the flowers?", ["yellow"] * 6 + ["orange"] * 4, "Yellow!"),
        ("how many", num, "How many birds?", ["3"] * 3 + ["three"] * 3 + ["4"] * 4, "3 birds"),
        ("what is", oth, "What is the man holding?", ["umbrella"] * 5 + ["an umbrella"] * 5, "umbrella"),
        ("is there", yn, "Is there a cat?", ["no"] * 9 + ["yes"], "no"),
        ("does the", yn, "Does the man have a beard?", ["yes"] * 4 + ["no"] * 6, "maybe"),
        ("what is", oth, "What is the @ sign?", ["at"] * 4 + ["@"] * 3 + ["email"] * 3, "@"),
        ("what is", oth, "What flavor is the ice cream?", ["cookies & cream"] * 3 + ["vanilla"] * 7,
         "cookies & cream"),
    ]
    gen_types = [
        ("is the", yn, lambda s, c: f"Is the {s} {c}?", lambda: rng.choice(["yes", "no"])),
        ("are there", yn, lambda s, c: f"Are there any {s}s?", lambda: rng.choice(["yes", "no"])),
        ("how many", num, lambda s, c: f"How many {s}s are there?",
         lambda: rng.choice(["1", "2", "3", "4", "5", "0", "2", "2"])),
        ("what color is the", oth, lambda s, c: f"What color is the {s}?", lambda: rng.choice(COLOURS)),
        ("what is", oth, lambda s, c: f"What is the {s} holding?",
         lambda: rng.choice(["frisbee", "umbrella", "phone", "kite", "bat", "racket"])),
        ("what sport is", oth, lambda s, c: "What sport is being played?",
         lambda: rng.choice(["tennis", "baseball", "soccer", "frisbee", "skateboarding"])),
        ("where is the", oth, lambda s, c: f"Where is the {s}?",
         lambda: rng.choice(["on table", "in field", "on street", "kitchen", "beach"])),
    ]
    specs = list(edge)
    while len(specs) < 104:
        qtype, atype, q, draw = gen_types[rng.randrange(len(gen_types))]
        main_answer = draw()
        answers = [main_answer if rng.random() < rng.choice([0.3, 0.6, 0.9, 1.0]) else draw() for _ in range(10)]
        if rng.random() < 0.2:  # formatting noise in the people's answers
            answers[rng.randrange(10)] = main_answer.capitalize() + rng.choice([".", "!", "", " "])
        how = rng.randrange(6)
        if how == 0:
            pred = main_answer
        elif how == 1:
            pred = rng.choice(answers)
        elif how == 2:
            pred = draw()
        elif how == 3:
            pred = main_answer.capitalize() + "."
        elif how == 4:
            pred = ("the " if atype == oth else "") + main_answer
        else:
            pred = {"2": "two", "3": "three", "0": "none", "yes": "Yes!", "no": "nope"}.get(main_answer, main_answer.upper())
        specs.append((qtype, atype, q(rng.choice(SUBJECTS)[0], rng.choice(COLOURS)), answers, pred))

    image_ids = sorted(rng.sample(range(1, 581000), 20))
    per_image = collections.Counter()
    questions, annotations, predictions = [], [], []
    for k, (qtype, atype, question, answers, pred) in enumerate(specs):
        assert len(answers) == 10, question
        image_id = image_ids[k % len(image_ids)]
        qid = image_id * 1000 + per_image[image_id]
        per_image[image_id] += 1
        questions.append({"image_id": image_id, "question": question, "question_id": qid})
        annotations.append({
            "question_id": qid, "image_id": image_id, "question_type": qtype, "answer_type": atype,
            "multiple_choice_answer": collections.Counter(answers).most_common(1)[0][0],
            "answers": [{"answer": a, "answer_confidence": rng.choice(["yes", "yes", "yes", "maybe", "no"]),
                         "answer_id": j + 1} for j, a in enumerate(answers)]})
        predictions.append({"question_id": qid, "answer": pred})
    order = sorted(range(len(questions)), key=lambda k: questions[k]["question_id"])
    questions = [questions[k] for k in order]
    annotations = [annotations[k] for k in order]
    predictions = [predictions[k] for k in order]
    return ({"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": "val2014",
             "questions": questions},
            {"info": {}, "data_type": "mscoco", "data_subtype": "val2014", "annotations": annotations},
            predictions)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(path + ".part", path)


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".part", path)


def remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def generate(out, probe_cases):
    remove(os.path.join(out, "COMPLETE"))
    folders = {"captions": captions_fixture(2201), "captions_one": captions_one_fixture(2202),
               "captions_two": captions_two_fixture(2203)}
    for name, (annotations, _, predictions) in folders.items():
        write_json(os.path.join(out, name, "annotations.json"), annotations)
        write_json(os.path.join(out, name, "predictions.json"), predictions)

    # VQA first: it needs nothing from outside the environment.
    questions, vqa_annotations, vqa_predictions = vqa_fixture(2204)
    predicted = {p["question_id"]: p["answer"] for p in vqa_predictions}
    per, sums = vqa_evaluate([(a["question_id"], predicted[a["question_id"]], [x["answer"] for x in a["answers"]],
                               a["answer_type"], a["question_type"]) for a in vqa_annotations["annotations"]])
    write_json(os.path.join(out, "vqa", "questions.json"), questions)
    write_json(os.path.join(out, "vqa", "annotations.json"), vqa_annotations)
    write_json(os.path.join(out, "vqa", "predictions.json"), vqa_predictions)
    write_json(os.path.join(out, "vqa", "scores.json"), {
        "normalized": {str(q): {"prediction": p, "answers": a} for q, (_, p, a) in per.items()},
        "per_question": {str(q): acc for q, (acc, _, _) in per.items()},
        "overall": mean(sums["overall"]),
        "per_answer_type": {t: mean(v) for t, v in sums["answer_type"].items()},
        "per_question_type": {t: mean(v) for t, v in sums["question_type"].items()},
    })
    print(f"make_eval: vqa: {len(per)} questions, overall accuracy {mean(sums['overall']):.6f}")

    try:
        coco = coco_caption()
    except Unavailable as e:
        reason = str(e)
        print(f"make_eval: the caption metrics are skipped: {reason}")
        for name in folders:
            remove(os.path.join(out, name, "scores.json"))
        remove(os.path.join(out, "ptb", "cases.json"))
        remove(os.path.join(out, "ptb", "dropped.json"))
        for name in list(folders) + ["ptb"]:
            write_text(os.path.join(out, name, "SKIPPED"), reason + "\n")
        write_text(os.path.join(out, "COMPLETE"), "captions skipped\n")
        return

    texts = []
    if os.path.exists(probe_cases):
        with open(probe_cases, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        texts += lines
        print(f"make_eval: {len(lines)} probe cases from {probe_cases}")
    for name, (annotations, references, predictions) in folders.items():
        remove(os.path.join(out, name, "SKIPPED"))
        preds = {p["image_id"]: p["caption"] for p in predictions}
        gts, res, corpus, per = evaluate_captions(coco, references, preds)
        write_json(os.path.join(out, name, "scores.json"), {
            "tokenized": {str(k): {"refs": gts[k], "pred": res[k][0]} for k in gts},
            "corpus": corpus,
            "per_image": {str(k): v for k, v in per.items()},
        })
        texts += [a["caption"] for a in annotations["annotations"]] + list(preds.values())
        print(f"make_eval: {name}: {len(gts)} images; " + ", ".join(f"{m} {corpus[m]:.6f}" for m in METRICS))
        if name == "captions":
            tokenized = {t: v for k in gts for t, v in zip(references[k] + [preds[k]], gts[k] + res[k])}

    unique = list(dict.fromkeys(texts))
    cases, dropped = ptb_cases(coco, unique)
    for c in cases:  # the same tokenizer, run on all the cases at once, agrees with the fixture's
        if c["text"] in tokenized and tokenized[c["text"]] != c["coco"]:
            raise RuntimeError(f"{c['text']!r}: {tokenized[c['text']]!r} in the fixture, {c['coco']!r} in ptb/")
    remove(os.path.join(out, "ptb", "SKIPPED"))
    write_json(os.path.join(out, "ptb", "cases.json"), cases)
    if dropped:
        write_json(os.path.join(out, "ptb", "dropped.json"), dropped)
        print(f"make_eval: ptb: {len(dropped)} cases left out (the tokenizer splits them into several "
              f"lines, which misaligns pycocoevalcap): {dropped!r}")
    else:
        remove(os.path.join(out, "ptb", "dropped.json"))
    print(f"make_eval: ptb: {len(cases)} cases")
    write_text(os.path.join(out, "COMPLETE"), "ok\n")


# ---------------------------------------------------------------------------------------------
# Recompute mode
# ---------------------------------------------------------------------------------------------

def id_text(v, where):
    """An id as the C++ set loaders write it (EvalSet.cpp: idText)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, str) and v:
        return v
    raise SystemExit(f"make_eval: {where} has no usable id (a number or a text): {v!r}")


def read_predictions(report):
    path = os.path.join(report, "predictions.jsonl")
    predictions = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip(" \t\r\n"):
                continue
            entry = json.loads(line)
            i = id_text(entry.get("id"), f"{path}: line {number}")
            if i in predictions:
                raise SystemExit(f"make_eval: {path}: id {i} appears twice")
            predictions[i] = entry.get("prediction")
            if not isinstance(predictions[i], str):
                raise SystemExit(f"make_eval: {path}: line {number} has no \"prediction\" text")
    return predictions


def recompute_caption(predictions, annotations_path):
    data = json.load(open(annotations_path, encoding="utf-8"))
    references = collections.OrderedDict()
    for image in data.get("images", []):  # COCOEvalCap's order: the images', as cocoRes.getImgIds()
        references[id_text(image.get("id"), f"{annotations_path}: an image")] = []
    for a in data["annotations"]:
        references.setdefault(id_text(a.get("image_id"), f"{annotations_path}: an annotation"), []).append(a["caption"])
    missing = [i for i in predictions if not references.get(i)]
    if missing:
        raise SystemExit(f"make_eval: no reference captions for the ids {missing[:10]}")
    refs = collections.OrderedDict((i, r) for i, r in references.items() if i in predictions)
    try:
        coco = coco_caption()
    except Unavailable as e:
        log(f"make_eval: skipped: {e}")
        sys.exit(SKIP)
    _, _, corpus, per = evaluate_captions(coco, refs, predictions)
    return {"metrics": corpus, "per_item": per}


def recompute_vqa(predictions, questions_path, annotations_path, jsonl_path):
    entries = []  # (id, answers, answer_type, question_type), in the set's order
    if jsonl_path:
        with open(jsonl_path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):  # line numbers count blank lines, as EvalSet.cpp does
                if not line.strip(" \t\r\n"):
                    continue
                q = json.loads(line)
                i = id_text(q["id"], f"{jsonl_path}: line {number}") if "id" in q else str(number)
                entries.append((i, q["answers"], q.get("answer_type", "unknown"), q.get("question_type", "unknown")))
    else:
        if questions_path:  # (the questions are not needed to score; a question without annotation is an error)
            known = {id_text(q["question_id"], questions_path) for q in json.load(open(questions_path))["questions"]}
        for a in json.load(open(annotations_path, encoding="utf-8"))["annotations"]:
            i = id_text(a["question_id"], annotations_path)
            if questions_path and i not in known:
                continue
            entries.append((i, [x["answer"] for x in a["answers"]], a.get("answer_type", "unknown"),
                            a.get("question_type", "unknown")))
    by_id = {e[0]: e for e in entries}
    missing = [i for i in predictions if i not in by_id]
    if missing:
        raise SystemExit(f"make_eval: no answers for the ids {missing[:10]}")
    per, sums = vqa_evaluate([(i, predictions[i], answers, at, qt) for i, answers, at, qt in entries
                              if i in predictions])
    return {"metrics": {"accuracy": mean(sums["overall"], 100)},
            "by_answer_type": {t: mean(v, 100) for t, v in sums["answer_type"].items()},
            "by_question_type": {t: mean(v, 100) for t, v in sums["question_type"].items()},
            "per_item": {i: {"accuracy": 100 * acc} for i, (acc, _, _) in per.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--fixtures", help="unused")
    ap.add_argument("--probe-cases", default=PROBE_CASES,
                    help="texts, one a line, to add to ptb/cases.json when the file exists")
    ap.add_argument("--recompute", metavar="REPORT_DIR")
    ap.add_argument("--task", choices=["caption", "vqa"])
    ap.add_argument("--annotations")
    ap.add_argument("--questions")
    ap.add_argument("--jsonl")
    args = ap.parse_args()
    if args.recompute:
        predictions = read_predictions(args.recompute)
        if args.task == "caption":
            if not args.annotations:
                ap.error("--task caption needs --annotations")
            result = recompute_caption(predictions, args.annotations)
        elif args.task == "vqa":
            if not args.jsonl and not args.annotations:
                ap.error("--task vqa needs --jsonl, or --annotations (with --questions)")
            result = recompute_vqa(predictions, args.questions, args.annotations, args.jsonl)
        else:
            ap.error("--recompute needs --task")
        json.dump(result, sys.stdout)  # (ASCII: whatever the locale makes of stdout)
        sys.stdout.write("\n")
        return
    if not args.out:
        ap.error("--out or --recompute is needed")
    os.makedirs(args.out, exist_ok=True)
    generate(args.out, args.probe_cases)


if __name__ == "__main__":
    main()
