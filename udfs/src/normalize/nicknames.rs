//! English given names and their common nicknames, grouped so that every
//! spelling of a group maps to one key (`bill`, `will`, `billy` → `william`).
//! Nicknames shared by several names (`chris`, `pat`, `alex`) join those
//! names into one group: a key for matching, not a claim about identity.

use datafusion::common::HashMap;
use std::sync::LazyLock;

const GROUPS: &str = "\
william:bill,billy,will,willy,willie,liam robert:bob,bobby,rob,robbie,bert richard:rick,ricky,rich,richie,dick \
james:jim,jimmy,jamie,jas john:jack,johnny,jon,jonny michael:mike,mikey,mick,mickey david:dave,davey,davy \
joseph:joe,joey,jo thomas:tom,tommy,thom christopher:chris,kit,topher charles:charlie,chuck,chas,chaz \
daniel:dan,danny anthony:tony,ant matthew:matt,matty donald:don,donnie,donny steven:steve,stevie \
stephen:steve,stevie andrew:andy,drew kenneth:ken,kenny timothy:tim,timmy ronald:ron,ronnie \
edward:ed,eddie,eddy,ted,teddy,ned jeffrey:jeff geoffrey:geoff,jeff jacob:jake nicholas:nick,nicky,nico \
jonathan:jon,jonny benjamin:ben,benny,benji samuel:sam,sammy gregory:greg alexander:alex,al,xander,sandy \
patrick:pat,paddy,patty raymond:ray nathan:nate nathaniel:nate,nat henry:hank,harry,hal harold:harry,hal \
douglas:doug zachary:zach,zack peter:pete walter:walt,wally gerald:gerry,jerry jerome:jerry \
lawrence:larry,laurie arthur:art,artie albert:al,bert,bertie alan:al allen:al gabriel:gabe elijah:eli \
vincent:vince,vinny eugene:gene russell:russ philip:phil,pip louis:lou,louie frederick:fred,freddie,freddy \
leonard:leo,len,lenny francis:frank,fran frank:frankie jose:pepe oliver:ollie,olly maximilian:max \
mary:molly,mae,polly,mamie patricia:pat,patty,trish,tricia jennifer:jen,jenny,jenn linda:lindy,lin \
elizabeth:liz,lizzie,beth,betty,bette,eliza,libby,betsy barbara:barb,babs,barbie susan:sue,susie,suzy \
jessica:jess,jessie sarah:sally,sadie margaret:maggie,peggy,meg,marge,margie,greta sandra:sandy \
kimberly:kim emily:em,emmy michelle:shelly,mich amanda:mandy,manda dorothy:dot,dottie,dolly \
melissa:missy,mel deborah:deb,debbie,debby stephanie:steph,stephie rebecca:becky,becca cynthia:cindy \
kathleen:kathy,kate,kath angela:angie anna:annie,ann pamela:pam nicole:nikki,nicki samantha:sam,sammy \
katherine:kate,kathy,katie,kat,kitty catherine:cathy,cat,cate,katie christine:chris,chrissy,tina \
christina:chris,tina olivia:liv,livvy virginia:ginny,ginger victoria:vicky,vicki,tori judith:judy,jude \
megan:meg jacqueline:jackie,jacqui martha:marty,mattie teresa:terry,tess,tessa theresa:terry,tess,tessa \
madison:maddie,maddy frances:fran,frannie kathryn:kate,kathy,katie abigail:abby,abbie,gail \
sophia:sophie isabella:bella,izzy isabel:izzy,bel danielle:dani beverly:bev natalie:nat,nattie \
charlotte:charlie,lottie alexandra:alex,lexi,sandra alexis:lexi,alex gabriela:gabi,gaby valentina:vale \
josephine:jo,josie louise:lou,lulu eleanor:ellie,nell,nora helen:nell,nellie";

/// nickname or name → group key.
static KEYS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    // Union-find over names, so overlapping groups become one.
    let mut parent: HashMap<&'static str, &'static str> = HashMap::new();
    fn find(parent: &mut HashMap<&'static str, &'static str>, x: &'static str) -> &'static str {
        let p = *parent.entry(x).or_insert(x);
        if p == x {
            return x;
        }
        let root = find(parent, p);
        parent.insert(x, root);
        root
    }
    for group in GROUPS.split_whitespace() {
        let (name, nicks) = group.split_once(':').unwrap_or((group, ""));
        let root = find(&mut parent, name);
        for nick in nicks.split(',').filter(|n| !n.is_empty()) {
            let other = find(&mut parent, nick);
            if other != root {
                // The earlier group's name stays the key.
                parent.insert(other, root);
            }
        }
    }
    let names: Vec<&'static str> = parent.keys().copied().collect();
    names.into_iter().map(|n| (n, find(&mut parent, n))).collect()
});

/// The group key of a normalized (lower-case) given name, or the name itself.
pub fn key(name: &str) -> &str {
    KEYS.get(name).copied().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn nicknames_share_a_key() {
        assert_eq!(key("bill"), key("william"));
        assert_eq!(key("will"), key("william"));
        assert_eq!(key("liz"), key("elizabeth"));
        assert_eq!(key("peggy"), key("margaret"));
        assert_ne!(key("william"), key("robert"));
        assert_eq!(key("zebulon"), "zebulon");
    }
}
