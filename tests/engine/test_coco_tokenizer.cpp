// engine/eval/CocoTokenizer: the tokenization the COCO caption evaluation (pycocoevalcap)
// applies before BLEU, ROUGE-L and CIDEr-D.
//
// Every expected value in the Case tables below (and the three single-caption expectations in
// LinesTokenizedTogetherMatchTheJar) came from running the Stanford PTBTokenizer of CoreNLP 3.4.1
// as pycocoevalcap runs it (java -cp stanford-corenlp-3.4.1.jar
// edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase FILE, the jar from the
// pycocoevalcap 1.2 wheel, Java 17), then keeping pycocoevalcap's
// ' '.join(w for w in line.rstrip().split(' ') if w not in PUNCTUATIONS) of each output line.
// The single-caption cases were run with every caption followed, in the file, by a caption that
// begins with a lower-case letter (the context ptbTokenize/cocoTokenize assume); kTogether was
// run as one file, its lines in that order, the last one ending the file.
//
// The tests after those check what the jar cannot show: line breaks inside a caption (which
// pycocoevalcap turns into spaces, or which break its file apart), invalid UTF-8 (which it cannot
// write) and random bytes.
//
// In a Case, `tokens` is the jar's output line (tokens separated by single spaces; a token may
// hold a no-break space, U+00A0) and `coco` what pycocoevalcap keeps of it.
#include "engine/eval/CocoTokenizer.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using vqa::eval::cocoTokenize;
using vqa::eval::cocoTokenizeLines;
using vqa::eval::isCocoPunctuation;
using vqa::eval::ptbTokenize;
using vqa::eval::ptbTokenizeLines;

struct Case {
    const char* input;
    const char* tokens;
    const char* coco;
};

// Captions and short answers as a captioning model or the COCO references write them.
const Case kCaptions[] = {
    {"A man riding a wave on top of a surfboard.", "a man riding a wave on top of a surfboard .",
     "a man riding a wave on top of a surfboard"},
    {"Two dogs' toys lie on the grey rug, near a T.V.",
     "two dogs ' toys lie on the grey rug , near a t.v.",
     "two dogs toys lie on the grey rug near a t.v."},
    {"A giraffe standing next to a tree in a field.",
     "a giraffe standing next to a tree in a field .",
     "a giraffe standing next to a tree in a field"},
    {"A group of people standing around a kitchen.",
     "a group of people standing around a kitchen .",
     "a group of people standing around a kitchen"},
    {"A black-and-white photo of a city street.", "a black-and-white photo of a city street .",
     "a black-and-white photo of a city street"},
    {"A woman holding an umbrella in the rain.", "a woman holding an umbrella in the rain .",
     "a woman holding an umbrella in the rain"},
    {"There is a cat that is sitting on the couch.",
     "there is a cat that is sitting on the couch .",
     "there is a cat that is sitting on the couch"},
    {"Two zebras grazing in a grassy field.", "two zebras grazing in a grassy field .",
     "two zebras grazing in a grassy field"},
    {"A plate of food with broccoli, rice and chicken.",
     "a plate of food with broccoli , rice and chicken .",
     "a plate of food with broccoli rice and chicken"},
    {"A close up of a pizza on a table.", "a close up of a pizza on a table .",
     "a close up of a pizza on a table"},
    {"A bathroom with a toilet, sink, and mirror.",
     "a bathroom with a toilet , sink , and mirror .", "a bathroom with a toilet sink and mirror"},
    {"A man in a t-shirt is playing frisbee.", "a man in a t-shirt is playing frisbee .",
     "a man in a t-shirt is playing frisbee"},
    {"A red double-decker bus driving down the street.",
     "a red double-decker bus driving down the street .",
     "a red double-decker bus driving down the street"},
    {"An elephant walks through the tall grass.", "an elephant walks through the tall grass .",
     "an elephant walks through the tall grass"},
    {"A baseball player swinging a bat at a ball.", "a baseball player swinging a bat at a ball .",
     "a baseball player swinging a bat at a ball"},
    {"A teddy bear sitting on top of a bed.", "a teddy bear sitting on top of a bed .",
     "a teddy bear sitting on top of a bed"},
    {"A young boy is flying a kite on the beach.", "a young boy is flying a kite on the beach .",
     "a young boy is flying a kite on the beach"},
    {"People are skiing down a snowy mountain slope.",
     "people are skiing down a snowy mountain slope .",
     "people are skiing down a snowy mountain slope"},
    {"A clock tower with a sky background.", "a clock tower with a sky background .",
     "a clock tower with a sky background"},
    {"A man and a woman are cutting a cake.", "a man and a woman are cutting a cake .",
     "a man and a woman are cutting a cake"},
    {"A kitchen with stainless steel appliances and wooden cabinets.",
     "a kitchen with stainless steel appliances and wooden cabinets .",
     "a kitchen with stainless steel appliances and wooden cabinets"},
    {"The dog's ball is in the grass.", "the dog 's ball is in the grass .",
     "the dog 's ball is in the grass"},
    {"A bunch of bananas sitting on top of a wooden table.",
     "a bunch of bananas sitting on top of a wooden table .",
     "a bunch of bananas sitting on top of a wooden table"},
    {"A stop sign on the corner of a street.", "a stop sign on the corner of a street .",
     "a stop sign on the corner of a street"},
    {"A living room with a couch, a TV and a lamp.",
     "a living room with a couch , a tv and a lamp .",
     "a living room with a couch a tv and a lamp"},
    {"Three sheep are standing in a field of green grass",
     "three sheep are standing in a field of green grass",
     "three sheep are standing in a field of green grass"},
    {"a man on a motorcycle in a parking lot", "a man on a motorcycle in a parking lot",
     "a man on a motorcycle in a parking lot"},
    {"A cow standing on a sandy beach next to the ocean.",
     "a cow standing on a sandy beach next to the ocean .",
     "a cow standing on a sandy beach next to the ocean"},
    {"A tennis player is about to hit the ball.", "a tennis player is about to hit the ball .",
     "a tennis player is about to hit the ball"},
    {"A woman's hand holding a cell phone.", "a woman 's hand holding a cell phone .",
     "a woman 's hand holding a cell phone"},
    {"A little girl eating a slice of pizza.", "a little girl eating a slice of pizza .",
     "a little girl eating a slice of pizza"},
    {"A train traveling down tracks next to a forest.",
     "a train traveling down tracks next to a forest .",
     "a train traveling down tracks next to a forest"},
    {"It's a sunny day at the park.", "it 's a sunny day at the park .",
     "it 's a sunny day at the park"},
    {"The children's toys are scattered on the floor.",
     "the children 's toys are scattered on the floor .",
     "the children 's toys are scattered on the floor"},
    {"A vase filled with colourful flowers on a table.",
     "a vase filled with colourful flowers on a table .",
     "a vase filled with colourful flowers on a table"},
    {"A skateboarder doing a trick on a ramp.", "a skateboarder doing a trick on a ramp .",
     "a skateboarder doing a trick on a ramp"},
    {"Two men playing video games in a living room.",
     "two men playing video games in a living room .",
     "two men playing video games in a living room"},
    {"A bowl of fruit (apples, oranges and bananas) on a counter.",
     "a bowl of fruit -lrb- apples , oranges and bananas -rrb- on a counter .",
     "a bowl of fruit -lrb- apples oranges and bananas -rrb- on a counter"},
    {"A \"STOP\" sign with graffiti on it.", "a `` stop '' sign with graffiti on it .",
     "a stop sign with graffiti on it"},
    {"A man wearing a hat and glasses.", "a man wearing a hat and glasses .",
     "a man wearing a hat and glasses"},
    {"An airplane flying over a city at night!", "an airplane flying over a city at night !",
     "an airplane flying over a city at night"},
    {"Is this a man or a woman?", "is this a man or a woman ?", "is this a man or a woman"},
    {"A large jetliner sitting on top of an airport runway.",
     "a large jetliner sitting on top of an airport runway .",
     "a large jetliner sitting on top of an airport runway"},
    {"A dog laying on a bed with a stuffed animal", "a dog laying on a bed with a stuffed animal",
     "a dog laying on a bed with a stuffed animal"},
    {"A fire hydrant painted yellow and blue.", "a fire hydrant painted yellow and blue .",
     "a fire hydrant painted yellow and blue"},
    {"A 12-year-old boy swings at a pitch.", "a 12-year-old boy swings at a pitch .",
     "a 12-year-old boy swings at a pitch"},
    {"A sandwich cut in half on a white plate", "a sandwich cut in half on a white plate",
     "a sandwich cut in half on a white plate"},
    {"A black cat sleeping on a laptop keyboard.", "a black cat sleeping on a laptop keyboard .",
     "a black cat sleeping on a laptop keyboard"},
    {"Mr. Smith's horse is standing in a barn.", "mr. smith 's horse is standing in a barn .",
     "mr. smith 's horse is standing in a barn"},
    {"A sign reads \"No Parking 8 a.m. - 6 p.m.\"", "a sign reads `` no parking 8 a.m. - 6 p.m. ''",
     "a sign reads no parking 8 a.m. 6 p.m."},
    {"A pizza with pepperoni, mushrooms, etc.", "a pizza with pepperoni , mushrooms , etc.",
     "a pizza with pepperoni mushrooms etc."},
    {"A group of kids playing soccer on a field...",
     "a group of kids playing soccer on a field ...", "a group of kids playing soccer on a field"},
    {"A woman in a red dress walks down the street -- alone.",
     "a woman in a red dress walks down the street -- alone .",
     "a woman in a red dress walks down the street alone"},
    {"The bus is parked on St. Patrick's Day.", "the bus is parked on st. patrick 's day .",
     "the bus is parked on st. patrick 's day"},
    {"A man holding a sign that says 'Free Hugs'.",
     "a man holding a sign that says ` free hugs ' .", "a man holding a sign that says free hugs"},
    {"A picture of the U.S. flag on a pole.", "a picture of the u.s. flag on a pole .",
     "a picture of the u.s. flag on a pole"},
    {"A person riding a bike in the city; it is raining.",
     "a person riding a bike in the city ; it is raining .",
     "a person riding a bike in the city it is raining"},
    {"A kite shaped like a fish: red and yellow.", "a kite shaped like a fish : red and yellow .",
     "a kite shaped like a fish red and yellow"},
    {"A car parked at a parking meter at 10:30.", "a car parked at a parking meter at 10:30 .",
     "a car parked at a parking meter at 10:30"},
    {"Two giraffes, one adult and one baby.", "two giraffes , one adult and one baby .",
     "two giraffes one adult and one baby"},
    {"A 1/2 eaten donut on a napkin.", "a 1/2 eaten donut on a napkin .",
     "a 1/2 eaten donut on a napkin"},
    {"A bottle of wine costs $5 at the store.", "a bottle of wine costs $ 5 at the store .",
     "a bottle of wine costs $ 5 at the store"},
    {"A sign that says 50% off.", "a sign that says 50 % off .", "a sign that says 50 % off"},
    {"A cat on a laptop (very cute).", "a cat on a laptop -lrb- very cute -rrb- .",
     "a cat on a laptop -lrb- very cute -rrb-"},
    {"A man surfing a wave -- in the ocean.", "a man surfing a wave -- in the ocean .",
     "a man surfing a wave in the ocean"},
    {"A desk with a computer monitor, keyboard and mouse",
     "a desk with a computer monitor , keyboard and mouse",
     "a desk with a computer monitor keyboard and mouse"},
    {"Someone is holding a hot dog with mustard and ketchup.",
     "someone is holding a hot dog with mustard and ketchup .",
     "someone is holding a hot dog with mustard and ketchup"},
    {"A bird perched on a branch of a tree", "a bird perched on a branch of a tree",
     "a bird perched on a branch of a tree"},
    {"Several boats docked in a harbor at sunset.", "several boats docked in a harbor at sunset .",
     "several boats docked in a harbor at sunset"},
    {"A grey and white cat laying in the sun", "a grey and white cat laying in the sun",
     "a grey and white cat laying in the sun"},
    {"yes", "yes", "yes"},
    {"no", "no", "no"},
    {"2", "2", "2"},
    {"red", "red", "red"},
    {"Yes.", "yes .", "yes"},
    {"tennis", "tennis", "tennis"},
    {"frisbee", "frisbee", "frisbee"},
    {"on the table", "on the table", "on the table"},
    {"1,000", "1,000", "1,000"},
    {"black and white", "black and white", "black and white"},
    {"pizza!", "pizza !", "pizza"},
    {"Not sure.", "not sure .", "not sure"},
};

// Lowercasing, also beyond ASCII (final sigma, dotted I).
const Case kLowercasing[] = {
    {"Éclair", "éclair", "éclair"},
    {"ÉCLAIR AU CHOCOLAT", "éclair au chocolat", "éclair au chocolat"},
    {"Zürich CAFÉ naïve", "zürich café naïve", "zürich café naïve"},
    {"İstanbul", "i̇stanbul", "i̇stanbul"},
    {"ΟΔΟΣ", "οδος", "οδος"},
    {"Straße STRASSE", "straße strasse", "straße strasse"},
    {"ǅemal", "ǆemal", "ǆemal"},
    {"ÀÉÎÕÜ ÇA", "àéîõü ça", "àéîõü ça"},
};

// Periods: sentence ends against abbreviations, titles, single letters, acronyms, file names.
const Case kPeriods[] = {
    {"Mr. Smith and Mrs. Jones met Dr. Who.", "mr. smith and mrs. jones met dr. who .",
     "mr. smith and mrs. jones met dr. who"},
    {"The U.S. flag.", "the u.s. flag .", "the u.s. flag"},
    {"a U.S. army truck", "a u.s. army truck", "a u.s. army truck"},
    {"at 5 a.m. and 6 p.m.", "at 5 a.m. and 6 p.m.", "at 5 a.m. and 6 p.m."},
    {"apples, pears, etc.", "apples , pears , etc.", "apples pears etc."},
    {"apples, pears, etc. and more", "apples , pears , etc. and more",
     "apples pears etc. and more"},
    {"vitamin C.", "vitamin c.", "vitamin c."},
    {"a sign with the letter A.", "a sign with the letter a.", "a sign with the letter a."},
    {"e.g. a dog", "e.g. a dog", "e.g. a dog"},
    {"i.e., a cat", "i.e. , a cat", "i.e. a cat"},
    {"Apple Inc. is big", "apple inc. is big", "apple inc. is big"},
    {"Jan. 5", "jan. 5", "jan. 5"},
    {"No. 5 jersey", "no. 5 jersey", "no. 5 jersey"},
    {"the No. 5", "the no. 5", "the no. 5"},
    {"Fig. 3", "fig. 3", "fig. 3"},
    {"a vs. b", "a vs. b", "a vs. b"},
    {"St. Louis", "st. louis", "st. louis"},
    {"Ph.D.", "ph.d.", "ph.d."},
    {"approx. 5 feet", "approx . 5 feet", "approx 5 feet"},
    {"The man is tall.", "the man is tall .", "the man is tall"},
    {"The man is tall .", "the man is tall .", "the man is tall"},
    {"He is 6 ft. tall", "he is 6 ft. tall", "he is 6 ft. tall"},
    {"hi.", "hi .", "hi"},
    {"may.,", "may. ,", "may."},
    {"1990sC.;.", "1990sc. ; .", "1990sc."},
    {"file.jpg", "file.jpg", "file.jpg"},
    {"a photo.jpg.", "a photo.jpg .", "a photo.jpg"},
};

// Ellipses and runs of ? and !.
const Case kEllipsis[] = {
    {"Hello... world", "hello ... world", "hello world"},
    {"Hello . . . world", "hello ... world", "hello world"},
    {"wait....", "wait ...", "wait"},
    {"end..", "end . .", "end"},
    {"…", "...", ""},
    {"Oh… no", "oh ... no", "oh no"},
    {"Really?!", "really ?!", "really ?!"},
    {"what??", "what ??", "what ??"},
    {"wow!!", "wow !!", "wow !!"},
    {"?!.,;:", "?! . , ; :", "?!"},
};

// Straight, curly and angle quotes.
const Case kQuotes[] = {
    {"\"hello\" \"Hello\" \"123\" \"$5\" \"(x)\"",
     "`` hello '' `` hello '' `` 123 '' `` $ 5 '' '' -lrb- x -rrb- ''",
     "hello hello 123 $ 5 -lrb- x -rrb-"},
    {"'hello' 'a' 'ab'", "` hello ' ` a ' ` ab '", "hello a ab"},
    {"“quoted” ‘single’", "`` quoted '' ` single '", "quoted single"},
    {"«guillemets» ‹single›", "`` guillemets '' ` single '", "guillemets single"},
    {"„low“ ‚low‘", "„ low `` ‚ low `", "„ low ‚ low"},
    {"a \"big\" dog", "a `` big '' dog", "a big dog"},
    {"a 'big' dog", "a ` big ' dog", "a big dog"},
    {"the word \"dog\".", "the word `` dog '' .", "the word dog"},
    {"`back` ``double''", "` back ` `` double ''", "back double"},
    {"''quoted''", "'' quoted ''", "quoted"},
    {"&quot;x&quot;", "`` x ''", "x"},
    {"5'10\" tall", "5 ' 10 '' tall", "5 10 tall"},
};

// Brackets (lowercased to -lrb- and so kept by the COCO filter), tags, smileys.
const Case kBrackets[] = {
    {"(paren) [bracket] {brace}", "-lrb- paren -rrb- -lsb- bracket -rsb- -lcb- brace -rcb-",
     "-lrb- paren -rrb- -lsb- bracket -rsb- -lcb- brace -rcb-"},
    {"<angle>", "<angle>", "<angle>"},
    {"<b>bold</b>", "<b> bold </b>", "<b> bold </b>"},
    {"a (b) c", "a -lrb- b -rrb- c", "a -lrb- b -rrb- c"},
    {"((double))", "-lrb- -lrb- double -rrb- -rrb-", "-lrb- -lrb- double -rrb- -rrb-"},
    {":) :( ;) :D :P", ":-rrb- :-lrb- ;-rrb- :d :p", ":-rrb- :-lrb- ;-rrb- :d :p"},
    {"^_^ (^_^)", "^_^ -lrb-^_^-rrb-", "^_^ -lrb-^_^-rrb-"},
};

// Contractions, possessives, assimilations.
const Case kContractions[] = {
    {"don't DON'T Don't", "do n't do n't do n't", "do n't do n't do n't"},
    {"can't won't shouldn't isn't ain't", "ca n't wo n't should n't is n't ai n't",
     "ca n't wo n't should n't is n't ai n't"},
    {"cannot Cannot CANNOT", "can not can not can not", "can not can not can not"},
    {"it's that's there's let's", "it 's that 's there 's let 's", "it 's that 's there 's let 's"},
    {"dogs' toys", "dogs ' toys", "dogs toys"},
    {"the man's hat", "the man 's hat", "the man 's hat"},
    {"James's car", "james 's car", "james 's car"},
    {"I'm here", "i 'm here", "i 'm here"},
    {"we'll see", "we 'll see", "we 'll see"},
    {"they've gone", "they 've gone", "they 've gone"},
    {"you're late", "you 're late", "you 're late"},
    {"he'd go", "he 'd go", "he 'd go"},
    {"don’t it’s dogs’ I’m", "do n't it 's dogs ' i 'm", "do n't it 's dogs i 'm"},
    {"gonna wanna gotta lemme gimme", "gon na wan na got ta lem me gim me",
     "gon na wan na got ta lem me gim me"},
    {"Gonna GONNA", "gon na gon na", "gon na gon na"},
    {"y'all o'clock ma'am", "y' all o'clock ma'am", "y' all o'clock ma'am"},
    {"rock 'n' roll", "rock 'n' roll", "rock 'n' roll"},
    {"'90s the 90's '90", "'90s the 90 's '90", "'90s the 90 's '90"},
    {"'tis 'twas 'cause 'em", "'t is 't was 'cause 'em", "'t is 't was 'cause 'em"},
    {"O'Neil d'Artagnan l'amour", "o'neil d'artagnan l'amour", "o'neil d'artagnan l'amour"},
    {"can't've", "ca n't 've", "ca n't 've"},
};

// Hyphenated words, hyphens and dashes.
const Case kHyphens[] = {
    {"black-and-white t-shirt", "black-and-white t-shirt", "black-and-white t-shirt"},
    {"3-year-old", "3-year-old", "3-year-old"},
    {"a - b", "a - b", "a b"},
    {"a--b", "a -- b", "a b"},
    {"a -- b", "a -- b", "a b"},
    {"a---b", "a -- b", "a b"},
    {"a—b", "a -- b", "a b"},
    {"a – b", "a -- b", "a b"},
    {"-", "-", ""},
    {"--", "--", ""},
    {"-----", "-----", "-----"},
    {"state-of-the-art", "state-of-the-art", "state-of-the-art"},
    {"x-ray e-mail", "x-ray e-mail", "x-ray e-mail"},
    {"pro- and anti-", "pro- and anti-", "pro- and anti-"},
    {"U.S.-made", "u.s.-made", "u.s.-made"},
    {"mid-1990s", "mid-1990s", "mid-1990s"},
};

// Numbers, money, percentages, fractions, telephone numbers.
const Case kNumbers[] = {
    {"1,000 3.5 .5 -5 +5", "1,000 3.5 .5 -5 +5", "1,000 3.5 .5 -5 +5"},
    {"1/2 3/4 24/7", "1/2 3/4 24/7", "1/2 3/4 24/7"},
    {"1 1/2 cups",
     "1\xC2\xA0"
     "1/2 cups",
     "1\xC2\xA0"
     "1/2 cups"},
    {"½ ¼ ¾", "1/2 1/4 3/4", "1/2 1/4 3/4"},
    {"$5 $5.00 US$5", "$ 5 $ 5.00 us$ 5", "$ 5 $ 5.00 us$ 5"},
    {"€5 £5 ¥5 5¢", "$ 5 # 5 ¥ 5 5 cents", "$ 5 # 5 ¥ 5 5 cents"},
    {"50% 100%.", "50 % 100 % .", "50 % 100 %"},
    {"10:30 10:30am", "10:30 10:30 am", "10:30 10:30 am"},
    {"2nd 1st 3rd 1990s", "2nd 1st 3rd 1990s", "2nd 1st 3rd 1990s"},
    {"5-6 1990-2000", "5-6 1990-2000", "5-6 1990-2000"},
    {"3x4 4X4", "3x4 4x4", "3x4 4x4"},
    {"#1 ##1", "# 1 ## 1", "# 1 ## 1"},
    {"11/22/33", "11/22/33", "11/22/33"},
    {"1/2/3/4", "1/2/3 / 4", "1/2/3 / 4"},
    {"555-1234", "555-1234", "555-1234"},
    {"(555) 555-1234",
     "-lrb-555-rrb-\xC2\xA0"
     "555-1234",
     "-lrb-555-rrb-\xC2\xA0"
     "555-1234"},
    {"12 345 6789",
     "12\xC2\xA0"
     "345\xC2\xA0"
     "6789",
     "12\xC2\xA0"
     "345\xC2\xA0"
     "6789"},
    {"98.6°F", "98.6 ° f", "98.6 ° f"},
    {"5 km", "5 km", "5 km"},
    {"1e5 0x1F", "1e5 0x1f", "1e5 0x1f"},
};

// Slashes and asterisks (not escaped by this version).
const Case kSlashes[] = {
    {"a/b and/or w/o", "a/b and/or w/o", "a/b and/or w/o"},
    {"w/ cheese", "w / cheese", "w / cheese"},
    {"a/b/c/d", "a/b/c / d", "a/b/c / d"},
    {"a*b * ** ***", "a * b * ** ***", "a * b * ** ***"},
    {"/ // \\", "/ / / \\", "/ / / \\"},
    {"a\\b", "a \\ b", "a \\ b"},
};

// Ampersands (and &amp;), @ and #.
const Case kSymbols[] = {
    {"& &amp; &&", "& & & &", "& & & &"},
    {"AT&T Q&A R&D", "at&t q&a r&d", "at&t q&a r&d"},
    {"a&b A & B", "a & b a & b", "a & b a & b"},
    {"@ @user a@", "@ @user a @", "@ @user a @"},
    {"#hashtag #1a ##", "#hashtag # 1a ##", "#hashtag # 1a ##"},
    {"C++ C# F#", "c++ c# f#", "c++ c# f#"},
    {"&lt;3 &gt;", "< 3 >", "< 3 >"},
};

// E-mail addresses and URLs.
const Case kUrls[] = {
    {"foo@bar.com", "foo@bar.com", "foo@bar.com"},
    {"mail me at foo@bar.com.", "mail me at foo@bar.com .", "mail me at foo@bar.com"},
    {"http://www.example.com/a?b=c.", "http://www.example.com/a?b=c .",
     "http://www.example.com/a?b=c"},
    {"https://x.y/z, ok", "https://x.y/z , ok", "https://x.y/z ok"},
    {"www.flickr.com", "www.flickr.com", "www.flickr.com"},
    {"google.com", "google.com", "google.com"},
    {"a.com/b", "a.com / b", "a.com / b"},
    {"ftp://x.com", "ftp : / / x.com", "ftp / / x.com"},
};

// British spellings stay (3.4.1 on the command line does not americanize).
const Case kBritish[] = {
    {"colour grey favourite centre theatre organise",
     "colour grey favourite centre theatre organise",
     "colour grey favourite centre theatre organise"},
    {"a grey colour", "a grey colour", "a grey colour"},
    {"neighbour's honour", "neighbour 's honour", "neighbour 's honour"},
};

// White space; empty and punctuation-only lines.
const Case kBlank[] = {
    {"  multiple   spaces  ", "multiple spaces", "multiple spaces"},
    {"tab\there", "tab here", "tab here"},
    {"no\xC2\xA0"
     "break\xC2\xA0"
     "space",
     "no break space", "no break space"},
    {"em\xE2\x80\x83"
     "space",
     "em space", "em space"},
    {"zero\xE2\x80\x8B"
     "width",
     "zero width", "zero width"},
    {"soft\xC2\xAD"
     "hyphen",
     "softhyphen", "softhyphen"},
    {"", "", ""},
    {" ", "", ""},
    {"\t", "", ""},
    {".", ".", ""},
    {",", ",", ""},
    {"...", "...", ""},
    {"!", "!", ""},
    {"?", "?", ""},
    {"\"", "''", ""},
    {"'", "'", ""},
    {"(", "-lrb-", "-lrb-"},
    {")", "-rrb-", "-rrb-"},
    {"-LRB- -RRB-", "-lrb- -rrb-", "-lrb- -rrb-"},
    {". , ; : ! ? ... -- -", ". , ; : ! ? ... -- -", ""},
    {"!!!", "!!!", "!!!"},
};

// Characters the jar drops (emoji, controls, format characters) and other scripts.
const Case kOdd[] = {
    {"a 😀 b", "a b", "a b"},
    {"a😀b", "a b", "a b"},
    {"a\x01"
     "b",
     "a b", "a b"},
    {"a\xEF\xBB\xBF"
     "b",
     "a b", "a b"},
    {"x\xC2\x85"
     "y",
     "x ... y", "x y"},
    {"中文 字", "中文 字", "中文 字"},
    {"日本語です。", "日本語です 。", "日本語です 。"},
    {"привет, мир!", "привет , мир !", "привет мир"},
    {"→ • × ±", "→ • × ±", "→ • × ±"},
    {"a™ © ®", "a ™ © ®", "a ™ © ®"},
};

// Tokenized together (one file, in this order, the last line ending it), the way pycocoevalcap
// tokenizes all references or all candidates: a caption's end can depend on the next one.
const Case kTogether[] = {
    {"a bottle of vitamin C.", "a bottle of vitamin c .", "a bottle of vitamin c"},
    {"A man riding a horse.", "a man riding a horse .", "a man riding a horse"},
    {"a picture of the T.V.", "a picture of the t.v. .", "a picture of the t.v."},
    {"The cat is black.", "the cat is black .", "the cat is black"},
    {"the sign says No.", "the sign says no.", "the sign says no."},
    {"5 dogs in a park", "5 dogs in a park", "5 dogs in a park"},
    {"apples, pears, etc.", "apples , pears , etc. .", "apples pears etc."},
    {"Two cats on a bed.", "two cats on a bed .", "two cats on a bed"},
    {"a box of tissues, approx.", "a box of tissues , approx .", "a box of tissues approx"},
    {"a 'quote", "a ` quote", "a quote"},
    {"we'll", "we ` ll", "we ll"},
};

std::string joined(const std::vector<std::string>& tokens) {
    std::string out;
    for (const std::string& t : tokens) {
        if (!out.empty())
            out.push_back(' ');
        out += t;
    }
    return out;
}

template <std::size_t N> void expectCases(const Case (&cases)[N]) {
    for (const Case& c : cases) {
        EXPECT_EQ(joined(ptbTokenize(c.input)), c.tokens) << "input: " << c.input;
        EXPECT_EQ(cocoTokenize(c.input), c.coco) << "input: " << c.input;
    }
}

bool validUtf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned char b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80                   ? 1
                  : (b >= 0xC2 && b <= 0xDF) ? 2
                  : (b >= 0xE0 && b <= 0xEF) ? 3
                  : (b >= 0xF0 && b <= 0xF4) ? 4
                                             : 0;
        if (len == 0 || i + len > s.size())
            return false;
        for (int k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

} // namespace

TEST(CocoTokenizer, CaptionsMatchTheJar) {
    expectCases(kCaptions);
}
TEST(CocoTokenizer, Lowercasing) {
    expectCases(kLowercasing);
}
TEST(CocoTokenizer, PeriodsAndAbbreviations) {
    expectCases(kPeriods);
}
TEST(CocoTokenizer, EllipsesQuestionAndExclamationMarks) {
    expectCases(kEllipsis);
}
TEST(CocoTokenizer, Quotes) {
    expectCases(kQuotes);
}
TEST(CocoTokenizer, Brackets) {
    expectCases(kBrackets);
}
TEST(CocoTokenizer, ContractionsAndPossessives) {
    expectCases(kContractions);
}
TEST(CocoTokenizer, HyphensAndDashes) {
    expectCases(kHyphens);
}
TEST(CocoTokenizer, Numbers) {
    expectCases(kNumbers);
}
TEST(CocoTokenizer, SlashesAndAsterisks) {
    expectCases(kSlashes);
}
TEST(CocoTokenizer, AmpersandAtAndHash) {
    expectCases(kSymbols);
}
TEST(CocoTokenizer, EmailsAndUrls) {
    expectCases(kUrls);
}
TEST(CocoTokenizer, BritishSpellingsStay) {
    expectCases(kBritish);
}
TEST(CocoTokenizer, WhiteSpaceEmptyAndPunctuationOnly) {
    expectCases(kBlank);
}
TEST(CocoTokenizer, DroppedAndOtherCharacters) {
    expectCases(kOdd);
}

TEST(CocoTokenizer, LinesTokenizedTogetherMatchTheJar) {
    std::vector<std::string> lines;
    for (const Case& c : kTogether)
        lines.push_back(c.input);
    const std::vector<std::vector<std::string>> tokens = ptbTokenizeLines(lines);
    const std::vector<std::string> coco = cocoTokenizeLines(lines);
    ASSERT_EQ(tokens.size(), lines.size());
    ASSERT_EQ(coco.size(), lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ(joined(tokens[i]), kTogether[i].tokens) << "line " << i << ": " << lines[i];
        EXPECT_EQ(coco[i], kTogether[i].coco) << "line " << i << ": " << lines[i];
    }
    // Alone, each is tokenized as if a lower-case caption followed: the single letter and the
    // acronym keep their periods, "No." loses its, "we'll" is a clitic.
    EXPECT_EQ(cocoTokenize(kTogether[0].input), "a bottle of vitamin c.");
    EXPECT_EQ(cocoTokenize(kTogether[4].input), "the sign says no");
    EXPECT_EQ(joined(ptbTokenize("we'll")), "we 'll");
    EXPECT_TRUE(ptbTokenizeLines({}).empty());
    EXPECT_EQ(cocoTokenizeLines({"", "A dog."}), (std::vector<std::string>{"", "a dog"}));
}

TEST(CocoTokenizer, LineBreaksInsideACaptionAreSpaces) {
    EXPECT_EQ(cocoTokenize("A dog\non a\r\nbed."), "a dog on a bed");
    EXPECT_EQ(joined(ptbTokenize("two\nlines")), "two lines");
    EXPECT_EQ(cocoTokenize("etc.\nThe end"), cocoTokenize("etc. The end"));
    // Still one line each when tokenized together.
    EXPECT_EQ(cocoTokenizeLines({"a\nb", "c"}), (std::vector<std::string>{"a b", "c"}));
}

TEST(CocoTokenizer, PunctuationIsPycocoevalcaps) {
    for (const char* p : {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!",
                          ",", ":", "-", "--", "...", ";"})
        EXPECT_TRUE(isCocoPunctuation(p)) << p;
    // The jar's output is lowercased before the filter, so these stay.
    for (const char* p : {"-lrb-", "-rrb-", "-lcb-", "-rcb-", "-lsb-", "-rsb-", "?!", "!!", "'s",
                          "n't", "&", "%", "$", "#", ""})
        EXPECT_FALSE(isCocoPunctuation(p)) << p;
}

TEST(CocoTokenizer, InvalidUtf8IsReadAsReplacementCharacters) {
    // U+FFFD is a character the jar drops: an invalid byte separates tokens and disappears.
    EXPECT_EQ(cocoTokenize(std::string("a\xFF") + "b"), "a b");
    EXPECT_EQ(cocoTokenize("caf\xC3"), "caf");
    EXPECT_EQ(cocoTokenize("\xE2\x80"), "");
    EXPECT_EQ(cocoTokenize("x\xED\xA0\x80y"), "x y");       // a UTF-8-encoded surrogate
    EXPECT_EQ(cocoTokenize("x\xC0\xAFy"), "x y");           // an overlong '/'
    EXPECT_EQ(cocoTokenize(std::string("a\0b", 3)), "a b"); // NUL is a control character
}

TEST(CocoTokenizer, RandomBytesNeverBreakIt) {
    std::mt19937 rng(20240607);
    // Bytes drawn from a mix that reaches the interesting rules: ASCII punctuation, letters,
    // digits, UTF-8 lead and continuation bytes, and anything at all.
    const std::string ascii = "aAbBeEiInNsStTxXyY019 .,;:!?'\"`-/\\()[]{}<>&#@$%*_=+~^|\t\n\r";
    std::vector<std::string> all;
    for (int i = 0; i < 3000; ++i) {
        std::string s;
        const int len = static_cast<int>(rng() % 48);
        for (int k = 0; k < len; ++k) {
            switch (rng() % 4) {
            case 0:
                s.push_back(static_cast<char>(rng() % 256));
                break;
            case 1:
                s.push_back(static_cast<char>(0x80 + rng() % 0x80));
                break;
            default:
                s.push_back(ascii[rng() % ascii.size()]);
                break;
            }
        }
        const std::string coco = cocoTokenize(s);
        EXPECT_EQ(coco.find("  "), std::string::npos) << "input #" << i;
        if (!coco.empty()) {
            EXPECT_NE(coco.front(), ' ') << "input #" << i;
            EXPECT_NE(coco.back(), ' ') << "input #" << i;
        }
        EXPECT_TRUE(validUtf8(coco)) << "input #" << i;
        for (const std::string& tok : ptbTokenize(s)) {
            EXPECT_FALSE(tok.empty()) << "input #" << i;
            EXPECT_EQ(tok.find_first_of(" \n"), std::string::npos) << "input #" << i;
        }
        all.push_back(s);
    }
    const std::vector<std::string> together = cocoTokenizeLines(all);
    ASSERT_EQ(together.size(), all.size());
    for (const std::string& coco : together) {
        EXPECT_EQ(coco.find("  "), std::string::npos);
        EXPECT_TRUE(coco.empty() || (coco.front() != ' ' && coco.back() != ' '));
    }
}
