//! Word lists for synthetic people: names with their nicknames, places,
//! streets and email domains. Lists are ordered by how common the entry is;
//! samplers weight them Zipf-like so that common names are common, as real
//! term frequencies are.

use std::sync::LazyLock;

/// `Name:Nick,Nick` entries, most common first.
const FEMALE: &str = "Mary:Molly,Mae Patricia:Pat,Patty,Trish Jennifer:Jen,Jenny Linda:Lindy Elizabeth:Liz,Beth,Betty,Eliza \
Barbara:Barb,Babs Susan:Sue,Susie Jessica:Jess,Jessie Sarah:Sally Karen Lisa Nancy:Nan Margaret:Maggie,Peggy,Meg \
Sandra:Sandy Ashley Kimberly:Kim Emily:Em Donna Michelle:Shelly Carol Amanda:Mandy Dorothy:Dot,Dottie Melissa:Missy,Mel \
Deborah:Deb,Debbie Stephanie:Steph Rebecca:Becky,Becca Sharon Laura Cynthia:Cindy Kathleen:Kathy,Kate Amy Angela:Angie \
Shirley Anna:Annie Brenda Pamela:Pam Emma Nicole:Nikki Helen Samantha:Sam,Sammy Katherine:Kate,Kathy,Katie,Kat \
Christine:Chris,Chrissy Rachel Carolyn Janet Catherine:Cathy,Cat Maria Heather Diane Ruth Julie Olivia:Liv Joyce \
Virginia:Ginny Victoria:Vicky,Tori Kelly Lauren Christina:Tina Joan Evelyn:Evie Judith:Judy Megan:Meg Andrea Cheryl \
Hannah Jacqueline:Jackie Martha:Marty Gloria Teresa:Terry Sara Madison:Maddie Frances:Fran Kathryn:Kate,Kathy Janice \
Jean Abigail:Abby Alice Sophia:Sophie Grace Denise Amber Doris Marilyn Danielle:Dani Beverly:Bev Isabella:Bella,Izzy \
Theresa:Tess,Terry Diana Natalie:Nat Brittany Charlotte:Charlie,Lottie Marie Kayla Alexis:Lexi Lori Chloe Zoe Ava Mia \
Harper Aaliyah Priya Mei Yuki Fatima Aisha Ingrid Siobhan Niamh Gabriela:Gabi Lucia Camila Valentina:Vale Ximena";

const MALE: &str = "James:Jim,Jimmy,Jamie Robert:Bob,Rob,Bobby,Robbie John:Jack,Johnny Michael:Mike,Mikey David:Dave,Davey \
William:Bill,Will,Billy,Liam Richard:Rick,Rich,Richie,Dick Joseph:Joe,Joey Thomas:Tom,Tommy Christopher:Chris \
Charles:Charlie,Chuck Daniel:Dan,Danny Matthew:Matt Anthony:Tony Mark Donald:Don,Donny Steven:Steve Paul \
Andrew:Andy,Drew Joshua:Josh Kenneth:Ken,Kenny Kevin Brian George Timothy:Tim,Timmy Ronald:Ron,Ronnie \
Edward:Ed,Eddie,Ted,Ned Jason Jeffrey:Jeff Ryan Jacob:Jake Gary Nicholas:Nick,Nicky Eric Jonathan:Jon Stephen:Steve \
Justin Scott Brandon Benjamin:Ben,Benny Samuel:Sam,Sammy Gregory:Greg Alexander:Alex Frank:Frankie Patrick:Pat,Paddy \
Raymond:Ray Dennis Jerry Tyler Aaron Jose:Pepe Adam Nathan:Nate Henry:Hank,Harry Douglas:Doug Zachary:Zach Peter:Pete \
Kyle Ethan Walter:Walt Noah Jeremy Christian Keith Roger Gerald:Gerry,Jerry Harold:Harry,Hal Sean Austin Carl \
Arthur:Art Lawrence:Larry Dylan Jesse Jordan Bryan Bruce Gabriel:Gabe Logan Albert:Al,Bert Alan:Al Juan Wayne \
Elijah:Eli Randy Roy Vincent:Vince,Vinny Ralph Eugene:Gene Russell:Russ Mason Philip:Phil Louis:Lou Wei Hiroshi Omar \
Mohammed Rahul Arjun Liam Oliver:Ollie Lucas Mateo Santiago Diego Connor Declan Lars Sven";

const SURNAMES: &str = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez \
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson \
Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell \
Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook \
Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks \
Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez \
Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero \
Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis \
Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy \
Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw \
Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer \
Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins \
Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane \
Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Willis Carpenter Lawrence \
Sandoval Guerrero George Chapman Rios Estrada Ortega Watkins Greene Nunez Wheeler Valdez Harper Burke Larson Santiago \
Maldonado Morrison Franklin Carlson Austin Dominguez Carr Lawson Jacobs O'Brien Lynch Singh Vega Bishop Montgomery \
Oliver Jensen Harvey Williamson Gilbert Dean Sims Espinoza Howell Li Wong Reid Hanson Le McCoy Garrett Burton Fuller \
Wang Weber Welch Rojas Lucas Marquez Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz Luna Fowler Mejia \
Davidson Acosta Brewer May Holland Juarez Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett Navarro \
Figueroa Keller Avila Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert Miranda Byrd Craig \
Ayala Lowe Frazier Powers Neal Leonard Gregory Carrillo Sutton Fleming Rhodes Shelton Schwartz Norris Jennings Watts \
Duran Walters Cohen McDaniel Moran Parks Steele Vaughn Becker Holt DeLeon Barker Terry Hale Leon Benson Haynes Horton \
Miles Lyons Pham Graves Bush Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher Page McCarthy \
Love Robles Cervantes Solis Erickson Reeves Chang Klein Salinas Fuentes Baldwin Simon Velasquez Hardy Higgins Aguirre \
Lin Cummings Chandler Sharp Barber Bowen Ochoa Robbins Liu Ramsey Francis Griffith Blair O'Connor Cardenas Pacheco Cross \
Calderon Quinn Moss Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson Christensen Manning Gill Curry \
McLaughlin Harmon McGee Gross Doyle Garner Newton Burgess Reese Walton Blake Trujillo Adkins Brady Goodman Roman \
Webster Goodwin Fischer Huang Potter Montoya Todd Wu Hines Mullins Castaneda Malone Cannon Tate Mack Sherman Hubbard \
Hodges Zhang Guerra Wolf Valencia Saunders Franco Rowe Gallagher Farmer Hammond Hampton Townsend Ingram Wise Gallegos \
Clarke Barton Schroeder Maxwell Waters Logan Camacho Strickland Norman Colon Parsons Frank Harrington Glover Osborne \
Buchanan Casey Floyd Patton Ibarra Ball Tyler Suarez Bowers Orozco Salas Cobb Gibbs Andrade Bauer Conner Moody Escobar \
McGuire Lloyd Mueller Hartman French Kramer McBride Pope Lindsey Norton McCormick Sparks Flynn Yates Hogan Marsh Macias \
Zamora Pratt Stokes Owen Ballard Lang Brock Drake Barrera Cain Burnett Mercado Santana Shepherd Bautista Ali Shaffer \
Lamb Trevino McKenzie Hess Olsen Cochran Morton Nash Wilkins Petersen Briggs Shah Roth Nicholson Holloway Lozano \
Flowers Hoover Short Arias Mora Valenzuela Meyers Weiss Underwood Bass Greer Summers Houston Carson Morrow Clayton \
Whitaker Decker Yoder Collier Zuniga Carey Wilcox Melendez Poole Larsen Conley Davenport Copeland Massey Lam Huff Rocha \
Cameron Jefferson Hood Monroe Pittman Huynh Randall Singleton Kirk Combs Mathis Skinner Bradford Galvan Wall Boone \
Kirby Wilkinson Bridges Atkinson Velez Meza Vincent York Hodge Villa Abbott Allison Tapia Gates Chase Sosa Sweeney \
Farrell Wyatt Dalton Horn Barron Phelps Dickerson Heath Foley Atkins Bonilla Acevedo Benitez Zavala Hensley Glenn \
Cisneros Harrell Shields Rubio Huffman Choi Boyer Garrison Arroyo Bond Kane Hancock Callahan Dillon Cline Wiggins Grimes \
Arellano Melton O'Neill Savage Beltran Pitts Parrish Ponce Booth Koch Golden Ware Brennan McDowell Marks Cantu \
Humphrey Baxter Sawyer Clay Tanner Hutchinson Kaur Berg Wiley Gilmore Russo Villegas Hobbs Wilkerson Ahmed Beard \
McClain Montes Rosario Henson Mosley McClure Beasley Stephenson Snow Huerta Preston Vance Barry Eaton Blackwell Dyer \
Prince MacDonald Solomon Guevara Stafford English Hurst Woodard Cortes Shannon Kemp Nolan McCullough Merritt Murillo \
Moon Salgado Strong Kline Cordova Barajas Roach Rosas Winters Jacobson Lester Knox Bullock Kerr Leach Meadows Orr Davila \
Whitehead Pruitt Kent Conway McKee Barr Marin Berger McIntyre Blankenship Gaines Palacios Cuevas Bartlett Durham \
Dorsey McCall O'Donnell Stein Browning Stout Lowery Sloan McLean Hendricks Calhoun Sexton Chung Gentry Hull Duarte \
Ellison Nielsen Gillespie Buck Middleton Sellers Leblanc Esparza Hardin Bradshaw McIntosh Howe Livingston Frost Glass \
Morse Knapp Herman Stark Bravo Noble Spears Weeks Corona Buckley McFarland Hebert Hickman Quintero Randolph Schaefer \
Trejo House Reilly Pennington Conrad Giles Crosby Fitzpatrick Donovan Mays Mahoney Valentine Medrano Hahn McMillan \
Small Bentley Felix Peck Lucero Boyle Hanna Pace Rush Hurley Harding McConnell Bernal Nava Ayers Everett Ventura Avery \
Pugh Mayer Bender Shepard McMahon Landry Sampson Moses Magana Blackburn Dunlap Gould Duffy Vaughan Herring McKay \
Espinosa Rivers Farley Bernard Friedman Potts Truong Costa Correa Blevins Nixon Clements Fry Benton Lugo Portillo \
Dougherty Crane Haley Phan Villalobos Blanchard Horne Finley Quintana Esquivel Bean Dodson Mullen Xiong Hayden Cano Levy \
Huber Richmond Moyer Lim Frye Sheppard McCarty Avalos Booker Waller Parra Woodward Jaramillo Krueger Rasmussen Brandt \
Peralta Donaldson Stuart Faulkner Maynard Galindo Coffey Estes Sanford Burch Maddox O'Connell Andersen Spence \
McPherson Church Schmitt Stanton Leal Cherry Compton Dudley Sierra Pollard Alfaro Hester Proctor Hinton Novak Madden \
McCann Terrell Jarvis Dickson Reyna Cantrell Mayo Branch Hendrix Rollins Rowland Whitney Duke Odom Daugherty Travis Tang";

/// (city, region, postcode seed, area codes); US postcodes are the 3-digit
/// prefix plus two digits, UK ones an outward code plus an inward code.
pub struct Place {
    pub city: &'static str,
    pub region: &'static str,
    pub postcode: &'static str,
    pub area_codes: &'static [&'static str],
}

pub const US_PLACES: &[Place] = &[
    Place {
        city: "New York",
        region: "NY",
        postcode: "100",
        area_codes: &["212", "646", "917"],
    },
    Place {
        city: "Brooklyn",
        region: "NY",
        postcode: "112",
        area_codes: &["718", "347"],
    },
    Place {
        city: "Los Angeles",
        region: "CA",
        postcode: "900",
        area_codes: &["213", "323", "310"],
    },
    Place {
        city: "Chicago",
        region: "IL",
        postcode: "606",
        area_codes: &["312", "773"],
    },
    Place {
        city: "Houston",
        region: "TX",
        postcode: "770",
        area_codes: &["713", "281", "832"],
    },
    Place {
        city: "Phoenix",
        region: "AZ",
        postcode: "850",
        area_codes: &["602", "480"],
    },
    Place {
        city: "Philadelphia",
        region: "PA",
        postcode: "191",
        area_codes: &["215", "267"],
    },
    Place {
        city: "San Antonio",
        region: "TX",
        postcode: "782",
        area_codes: &["210"],
    },
    Place {
        city: "San Diego",
        region: "CA",
        postcode: "921",
        area_codes: &["619", "858"],
    },
    Place {
        city: "Dallas",
        region: "TX",
        postcode: "752",
        area_codes: &["214", "469", "972"],
    },
    Place {
        city: "San Jose",
        region: "CA",
        postcode: "951",
        area_codes: &["408"],
    },
    Place {
        city: "Austin",
        region: "TX",
        postcode: "787",
        area_codes: &["512", "737"],
    },
    Place {
        city: "Jacksonville",
        region: "FL",
        postcode: "322",
        area_codes: &["904"],
    },
    Place {
        city: "Columbus",
        region: "OH",
        postcode: "432",
        area_codes: &["614"],
    },
    Place {
        city: "Charlotte",
        region: "NC",
        postcode: "282",
        area_codes: &["704", "980"],
    },
    Place {
        city: "Indianapolis",
        region: "IN",
        postcode: "462",
        area_codes: &["317"],
    },
    Place {
        city: "San Francisco",
        region: "CA",
        postcode: "941",
        area_codes: &["415", "628"],
    },
    Place {
        city: "Seattle",
        region: "WA",
        postcode: "981",
        area_codes: &["206"],
    },
    Place {
        city: "Denver",
        region: "CO",
        postcode: "802",
        area_codes: &["303", "720"],
    },
    Place {
        city: "Boston",
        region: "MA",
        postcode: "021",
        area_codes: &["617", "857"],
    },
    Place {
        city: "Nashville",
        region: "TN",
        postcode: "372",
        area_codes: &["615"],
    },
    Place {
        city: "Portland",
        region: "OR",
        postcode: "972",
        area_codes: &["503", "971"],
    },
    Place {
        city: "Atlanta",
        region: "GA",
        postcode: "303",
        area_codes: &["404", "678", "470"],
    },
    Place {
        city: "Miami",
        region: "FL",
        postcode: "331",
        area_codes: &["305", "786"],
    },
    Place {
        city: "Minneapolis",
        region: "MN",
        postcode: "554",
        area_codes: &["612"],
    },
    Place {
        city: "Detroit",
        region: "MI",
        postcode: "482",
        area_codes: &["313"],
    },
    Place {
        city: "Kansas City",
        region: "MO",
        postcode: "641",
        area_codes: &["816"],
    },
    Place {
        city: "Raleigh",
        region: "NC",
        postcode: "276",
        area_codes: &["919"],
    },
    Place {
        city: "Salt Lake City",
        region: "UT",
        postcode: "841",
        area_codes: &["801"],
    },
    Place {
        city: "Pittsburgh",
        region: "PA",
        postcode: "152",
        area_codes: &["412"],
    },
    Place {
        city: "Cleveland",
        region: "OH",
        postcode: "441",
        area_codes: &["216"],
    },
    Place {
        city: "Tampa",
        region: "FL",
        postcode: "336",
        area_codes: &["813"],
    },
    Place {
        city: "St. Louis",
        region: "MO",
        postcode: "631",
        area_codes: &["314"],
    },
    Place {
        city: "Baltimore",
        region: "MD",
        postcode: "212",
        area_codes: &["410", "443"],
    },
    Place {
        city: "Milwaukee",
        region: "WI",
        postcode: "532",
        area_codes: &["414"],
    },
    Place {
        city: "Sacramento",
        region: "CA",
        postcode: "958",
        area_codes: &["916"],
    },
    Place {
        city: "Orlando",
        region: "FL",
        postcode: "328",
        area_codes: &["407"],
    },
    Place {
        city: "Cincinnati",
        region: "OH",
        postcode: "452",
        area_codes: &["513"],
    },
    Place {
        city: "Las Vegas",
        region: "NV",
        postcode: "891",
        area_codes: &["702"],
    },
    Place {
        city: "Albuquerque",
        region: "NM",
        postcode: "871",
        area_codes: &["505"],
    },
];

pub const UK_PLACES: &[Place] = &[
    Place {
        city: "London",
        region: "Greater London",
        postcode: "SW",
        area_codes: &["20"],
    },
    Place {
        city: "London",
        region: "Greater London",
        postcode: "E",
        area_codes: &["20"],
    },
    Place {
        city: "London",
        region: "Greater London",
        postcode: "N",
        area_codes: &["20"],
    },
    Place {
        city: "Manchester",
        region: "Greater Manchester",
        postcode: "M",
        area_codes: &["161"],
    },
    Place {
        city: "Birmingham",
        region: "West Midlands",
        postcode: "B",
        area_codes: &["121"],
    },
    Place {
        city: "Leeds",
        region: "West Yorkshire",
        postcode: "LS",
        area_codes: &["113"],
    },
    Place {
        city: "Glasgow",
        region: "Scotland",
        postcode: "G",
        area_codes: &["141"],
    },
    Place {
        city: "Bristol",
        region: "Bristol",
        postcode: "BS",
        area_codes: &["117"],
    },
    Place {
        city: "Edinburgh",
        region: "Scotland",
        postcode: "EH",
        area_codes: &["131"],
    },
    Place {
        city: "Liverpool",
        region: "Merseyside",
        postcode: "L",
        area_codes: &["151"],
    },
];

pub const STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Church",
    "High",
    "Station",
    "Mill",
    "River",
    "Sunset",
    "Willow",
    "Highland",
    "Jefferson",
    "Lincoln",
    "Franklin",
    "Spring",
    "Ridge",
    "Meadow",
    "Forest",
    "Chestnut",
    "Walnut",
    "Cherry",
    "Madison",
    "Adams",
    "Jackson",
    "Victoria",
    "Queen",
    "King",
    "George",
    "Market",
    "Bridge",
    "Green",
    "Grove",
    "Valley",
    "Prospect",
    "Broad",
    "Center",
    "North",
    "South",
    "Front",
    "Water",
    "Union",
    "Pleasant",
    "Harbor",
];

/// (abbreviation, full form): both appear in real data for one address.
pub const STREET_TYPES: &[(&str, &str)] = &[
    ("St", "Street"),
    ("Ave", "Avenue"),
    ("Rd", "Road"),
    ("Dr", "Drive"),
    ("Ln", "Lane"),
    ("Blvd", "Boulevard"),
    ("Ct", "Court"),
    ("Pl", "Place"),
    ("Way", "Way"),
    ("Ter", "Terrace"),
];

pub const US_DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "comcast.net",
    "mail.com",
    "protonmail.com",
    "att.net",
    "verizon.net",
    "gmx.com",
];
pub const UK_DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "btinternet.com",
    "outlook.com",
    "icloud.com",
    "sky.com",
    "live.co.uk",
];
pub const WORK_DOMAINS: &[&str] = &[
    "acme-corp.com",
    "globex.com",
    "initech.com",
    "umbrella-health.org",
    "stark-industries.com",
    "wayne-ent.com",
    "hooli.com",
    "vandelay.com",
    "soylent.co",
    "cyberdyne.io",
    "tyrell.com",
    "wonka.co.uk",
];

/// Values real systems collect when a form demands something.
pub const JUNK_EMAILS: &[&str] = &[
    "test@test.com",
    "null",
    "none@none.com",
    "noemail@noemail.com",
    "na@na.com",
    "x@x.com",
    "N/A",
    "",
];
pub const JUNK_PHONES: &[&str] = &[
    "0000000000",
    "000-000-0000",
    "1111111111",
    "N/A",
    "null",
    "123-456-7890",
    "9999999999",
];

pub const TICKET_SUBJECTS: &[&str] = &[
    "Where is my order?",
    "Refund request",
    "Wrong size delivered",
    "Cannot log in",
    "Update my address",
    "Package damaged",
    "Cancel my subscription",
    "Promo code not working",
    "Change payment method",
    "Question about returns",
    "Item out of stock",
    "Unsubscribe me",
];

pub struct Name {
    pub name: &'static str,
    pub nicknames: Vec<&'static str>,
}

fn parse_names(list: &'static str) -> Vec<Name> {
    list.split_whitespace()
        .map(|entry| match entry.split_once(':') {
            Some((name, nicks)) => Name {
                name,
                nicknames: nicks.split(',').collect(),
            },
            None => Name {
                name: entry,
                nicknames: Vec::new(),
            },
        })
        .collect()
}

pub static FEMALE_NAMES: LazyLock<Vec<Name>> = LazyLock::new(|| parse_names(FEMALE));
pub static MALE_NAMES: LazyLock<Vec<Name>> = LazyLock::new(|| parse_names(MALE));
pub static LAST_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| SURNAMES.split_whitespace().collect());

/// Samples list positions with weight 1/(rank+offset): a few entries are
/// very common, the long tail rare.
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, offset: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|rank| {
                total += 1.0 / (rank as f64 + offset);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// Maps a uniform draw in [0, 1) to a position.
    pub fn pick(&self, u: f64) -> usize {
        let target = u * self.cumulative.last().copied().unwrap_or(0.0);
        self.cumulative
            .partition_point(|c| *c <= target)
            .min(self.cumulative.len() - 1)
    }
}
